using Ferry.Protocol;

namespace Ferry.Server.Scheduling;

/// <summary>
/// What one pass of the autoscaler asks of a pool: <paramref name="ToStart"/> more containers, and the idle ones in
/// <paramref name="ToStop"/> stopped, each with the reason its log line gives.
/// </summary>
internal sealed record ScalePlan(int Desired, int ToStart, IReadOnlyList<(ContainerState Container, string Reason)> ToStop);

/// <summary>
/// The autoscaler's decisions: how many containers a pool should have for its load and settings, which idle containers
/// have outlived their scale-down window, and which idle container of another pool makes room for waiting work. It
/// reads the pools and the clock and changes nothing; the scheduler starts and stops what it decides.
/// </summary>
internal sealed class PoolScaler(TimeProvider clock)
{
    /// <summary>
    /// Containers a pool should have: enough for the load at the target per container, plus the buffer while the
    /// function is active, never below the minimum and never above the maximum.
    /// </summary>
    public static int Desired(FunctionSettings settings, int backlog, int running, int delayed)
    {
        var perContainer = Math.Max(1, (settings.TargetInputs ?? settings.MaxInputs) * Math.Max(1, settings.BatchMaxSize ?? 1));
        var load = backlog + running;
        var needed = (load + perContainer - 1) / perContainer;
        var active = load + delayed > 0;
        var desired = Math.Max(settings.MinContainers, needed + (active ? settings.BufferContainers : 0));
        return settings.MaxContainers is { } max ? Math.Min(desired, max) : desired;
    }

    /// <summary>
    /// The containers to start and stop for <paramref name="pool"/> now. Above MaxContainers, idle containers stop at
    /// once; otherwise a surplus container stops only once it has been ready and idle for the whole scale-down window,
    /// the longest idle first.
    /// </summary>
    public ScalePlan Plan(PoolState pool)
    {
        var settings = pool.Settings;
        // Requests at the gateway are load like inputs: those waiting are backlog, those being forwarded are running.
        var desired = Desired(settings, pool.Ready.Count + pool.WebWaiting, pool.RunningInputs + pool.WebInFlight, pool.Delayed.Count);
        var live = pool.Containers.Values.Where(c => c.Status != ContainerStatus.Stopping).ToList();
        var surplus = live.Count - desired;
        if (surplus <= 0)
        {
            return new ScalePlan(desired, -surplus, []);
        }
        var now = clock.GetUtcNow();
        var window = TimeSpan.FromSeconds(settings.ScaledownWindowSeconds);
        var overMax = settings.MaxContainers is { } max ? live.Count - max : 0;
        var stop = new List<(ContainerState, string)>();
        foreach (var container in live.Where(c => c.IsIdle).OrderBy(c => c.IdleSince))
        {
            if (surplus <= 0)
            {
                break;
            }
            if (overMax > 0 || (container.Status == ContainerStatus.Ready && now - container.IdleSince >= window))
            {
                stop.Add((container, overMax > 0 ? "above max containers" : "scaled down"));
                overMax--;
                surplus--;
            }
        }
        return new ScalePlan(desired, 0, stop);
    }

    /// <summary>
    /// The container to stop so that <paramref name="requester"/>, which has queued inputs and no room, can start one:
    /// the longest-idle ready container of another pool above that pool's minimum. Null while an earlier eviction is
    /// still stopping (the freed slot is taken when its exit arrives), or when no container qualifies.
    /// </summary>
    public static ContainerState? ChooseToEvict(IReadOnlyCollection<ContainerState> containers, PoolState requester)
    {
        if (containers.Any(c => c.Evicted && c.Status == ContainerStatus.Stopping))
        {
            return null;
        }
        return containers
            .Where(c => c.Pool != requester && c.Status == ContainerStatus.Ready && c.IsIdle
                && c.Pool.LiveContainers > c.Pool.Settings.MinContainers)
            .OrderBy(c => c.IdleSince)
            .FirstOrDefault();
    }
}
