namespace Ferry;

/// <summary>What a function's pool is doing right now.</summary>
/// <param name="Backlog">Inputs waiting for a container.</param>
/// <param name="Containers">Containers starting or running.</param>
/// <param name="RunningInputs">Inputs running in containers.</param>
/// <param name="IdleContainers">Running containers with no input.</param>
public sealed record FunctionStats(int Backlog, int Containers, int RunningInputs, int IdleContainers)
{
    internal static FunctionStats From(Protocol.FunctionStats stats) =>
        new(stats.Backlog, stats.Containers, stats.RunningInputs, stats.IdleContainers);
}

/// <summary>The autoscaler settings of a function's pool.</summary>
/// <param name="MinContainers">Containers kept running even with no inputs.</param>
/// <param name="BufferContainers">Idle containers kept beyond those the inputs need.</param>
/// <param name="ScaledownWindow">How long a container may sit idle before it is stopped.</param>
/// <param name="MaxContainers">The most containers the pool may have; null for no limit but the workers'.</param>
public sealed record AutoscalerSettings(int MinContainers, int BufferContainers, TimeSpan ScaledownWindow, int? MaxContainers)
{
    internal static AutoscalerSettings From(Protocol.AutoscalerSettings settings) =>
        new(settings.MinContainers, settings.BufferContainers, TimeSpan.FromSeconds(settings.ScaledownWindowSeconds), settings.MaxContainers);
}

/// <summary>How far a spawned map has got.</summary>
/// <param name="Succeeded">Inputs that returned a result.</param>
/// <param name="Failed">Inputs that failed: they threw, timed out, crashed their container or were cancelled.</param>
/// <param name="Pending">Inputs without an outcome yet.</param>
/// <param name="AllSubmitted">True once every input has reached the server, so the counts add up to the map's size.</param>
public sealed record FunctionCallStats(int Succeeded, int Failed, int Pending, bool AllSubmitted)
{
    /// <summary>The inputs the server has: <see cref="Succeeded"/> + <see cref="Failed"/> + <see cref="Pending"/>.</summary>
    public int Total => Succeeded + Failed + Pending;

    /// <summary>Inputs with an outcome, success or failure.</summary>
    public int Done => Succeeded + Failed;

    /// <summary>True when every input has been submitted and has an outcome.</summary>
    public bool IsComplete => AllSubmitted && Pending == 0;
}
