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
/// reads the pools and the clock and changes nothing but its own notes on them (the measured averages, when a hold
/// began); the scheduler starts and stops what it decides.
/// </summary>
internal sealed class PoolScaler(TimeProvider clock)
{
    /// <summary>The weight of the newest measurement in the moving averages of cold starts and service times.</summary>
    internal const double Smoothing = 0.3;

    /// <summary>Adds a container's start-to-ready time to its pool's moving average.</summary>
    public static void RecordColdStart(PoolState pool, TimeSpan elapsed) => pool.ColdStart = Average(pool.ColdStart, elapsed);

    /// <summary>Adds how long one input ran to its pool's moving average.</summary>
    public static void RecordServiceTime(PoolState pool, TimeSpan elapsed) => pool.ServiceTime = Average(pool.ServiceTime, elapsed);

    /// <summary>Adds how long the function ran per input, by the container's clock, to its pool's moving average.</summary>
    public static void RecordRunTime(PoolState pool, TimeSpan perInput) => pool.RunTime = Average(pool.RunTime, perInput);

    private static TimeSpan Average(TimeSpan? previous, TimeSpan sample)
    {
        sample = sample < TimeSpan.Zero ? TimeSpan.Zero : sample;
        return previous is { } p ? TimeSpan.FromTicks((long)Math.Round((1 - Smoothing) * p.Ticks + Smoothing * sample.Ticks)) : sample;
    }

    /// <summary>Inputs that run at least this long, on average, make a map's start-up cost too small to trade for.</summary>
    internal static readonly TimeSpan ShortInput = TimeSpan.FromMilliseconds(10);

    /// <summary>A map of at least this many inputs (or one still receiving them) is many inputs.</summary>
    internal const int ManyInputs = 100;

    /// <summary>
    /// Whether the container <paramref name="pool"/> starts now should start for throughput
    /// (<see cref="StartContainerCommand.ForThroughput"/>): its next input is a map's of <see cref="ManyInputs"/> or more
    /// (or one whose inputs are still arriving), or its backlog is so long that part of it waits in the store; and its
    /// inputs are not known to run for <see cref="ShortInput"/> or longer. Such work is many inputs whose per-input cost
    /// the container's own compiling can outweigh. A call, a small map, or a map of long inputs keeps the quicker start
    /// from a placeholder.
    /// </summary>
    public static bool StartsForThroughput(PoolState pool) =>
        (pool.Stored.Count > 0
            || pool.Ready.First?.Value.Call is { Record.Kind: CallKinds.Map } map && (!map.Final || map.Indices.Count >= ManyInputs))
        && !(pool.ServiceTime >= ShortInput);

    /// <summary>
    /// Containers a pool should have: enough for the load at the target per container (at most
    /// <paramref name="coreCap"/> for it, when given), plus the buffer while the function is active, never below the
    /// minimum and never above the maximum.
    /// </summary>
    public static int Desired(FunctionSettings settings, int backlog, int running, int delayed, int? coreCap = null)
    {
        var perContainer = Math.Max(1, (settings.TargetInputs ?? settings.MaxInputs) * Math.Max(1, settings.BatchMaxSize ?? 1));
        var load = backlog + running;
        var needed = (load + perContainer - 1) / perContainer;
        if (coreCap is { } cap)
        {
            needed = Math.Min(needed, cap);
        }
        var active = load + delayed > 0;
        var desired = Math.Max(settings.MinContainers, needed + (active ? settings.BufferContainers : 0));
        return settings.MaxContainers is { } max ? Math.Min(desired, max) : desired;
    }

    /// <summary>A function that runs this long or less per input, on average, keeps its container's core busy (see <see cref="RunsOnCores"/>).</summary>
    internal static readonly TimeSpan CoreBoundInput = TimeSpan.FromMilliseconds(1);

    /// <summary>
    /// An input running this long, by the control plane's clock, shows the pool's inputs are no longer all short. Long
    /// enough that a container held off the cores for a moment on a busy machine does not lift the cap.
    /// </summary>
    internal static readonly TimeSpan LongRunningInput = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Whether <paramref name="pool"/>'s load should have at most one container per worker core: its function runs
    /// within <see cref="CoreBoundInput"/> per input on average, by its containers' clocks (<see cref="PoolState.RunTime"/>);
    /// no input of it has been running for <see cref="LongRunningInput"/>; and it is no batching or web pool. A container
    /// queues such inputs locally and runs them back to back (see <see cref="ContainerState.CapacityAt"/>), so it keeps
    /// a core busy, and containers beyond the cores only take turns on them, each with its own runtime, messages and
    /// garbage collector: on 2 cores a map of 300,000 trivial inputs ran at 50,700-60,600 inputs/s on 2 containers and
    /// at 31,600-39,000 on the 7-8 its backlog asked for (<c>bench/RESULTS.md</c>). The control plane's own measure,
    /// <see cref="PoolState.ServiceTime"/>, cannot tell: with containers queueing for the cores it grows to milliseconds
    /// for a function of microseconds. A pool not measured yet is left uncapped, so a first map of slow inputs fans
    /// out at once; a function that waits on something, and takes longer, scales as before.
    /// </summary>
    internal static bool RunsOnCores(PoolState pool, DateTimeOffset now)
    {
        var settings = pool.Settings;
        if (pool.RunTime is not { } runTime || runTime > CoreBoundInput
            || (settings.BatchMaxSize ?? 1) > 1 || settings.Web is not null)
        {
            return false;
        }
        foreach (var container in pool.Containers.Values)
        {
            foreach (var input in container.Running.Values)
            {
                if (input.StartedAt != DateTimeOffset.MaxValue && now - input.StartedAt >= LongRunningInput)
                {
                    return false;
                }
            }
        }
        return true;
    }

    /// <summary>
    /// The containers to start and stop for <paramref name="pool"/> now: those the load asks for (at most one per core
    /// of the workers' <paramref name="cores"/>, for inputs that <see cref="RunsOnCores"/>), unless
    /// <see cref="Withhold"/> holds them back. Above MaxContainers, idle containers stop at once; otherwise a surplus
    /// container stops only once it has been ready and idle for the whole scale-down window, the longest idle first.
    /// </summary>
    public ScalePlan Plan(PoolState pool, int? cores = null)
    {
        var settings = pool.Settings;
        var now = clock.GetUtcNow();
        // Requests at the gateway are load like inputs: those waiting are backlog, those being forwarded are running.
        pool.CoreCap = cores is { } count && RunsOnCores(pool, now) ? Math.Max(1, count) : null;
        var desired = Desired(settings, pool.Queued + pool.WebWaiting, pool.RunningInputs + pool.WebInFlight, pool.Delayed.Count, pool.CoreCap);
        var live = pool.Containers.Values.Where(c => c.Status != ContainerStatus.Stopping).ToList();
        var surplus = live.Count - desired;
        if (surplus < 0)
        {
            return new ScalePlan(desired, Withhold(pool, live, now) ? Math.Min(-surplus, Floor(pool, live) - live.Count) : -surplus, []);
        }
        pool.WithheldSince = null;
        if (surplus == 0)
        {
            return new ScalePlan(desired, 0, []);
        }
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
    /// Whether the containers the load asks for beyond <paramref name="live"/> should wait: true while the ready
    /// containers are expected to finish all the pool's work (queued at the server, queued in them and running) within
    /// one expected cold start, at the measured service time (or the running time of the longest-running input, if
    /// longer) per input per slot, so that a new container would be ready only once there is nothing left for it.
    /// The dispatcher keeps queueing work inside the ready containers meanwhile. The hold starts only while some ready
    /// container has a free slot (work that arrives when every slot is taken may be waiting on the running inputs, and
    /// would be stuck behind them), and it ends once the work outgrows what the ready containers drain in a cold start,
    /// or once it has lasted a cold start. Nothing is held without a measured cold start and service time, without a
    /// ready container, or for batching and web pools.
    /// </summary>
    internal static bool Withhold(PoolState pool, IReadOnlyList<ContainerState> live, DateTimeOffset now)
    {
        var settings = pool.Settings;
        if ((settings.BatchMaxSize ?? 1) > 1 || settings.Web is not null || pool.WebWaiting > 0
            || pool.ColdStart is not { } coldStart || pool.ServiceTime is not { } serviceTime)
        {
            pool.WithheldSince = null;
            return false;
        }
        var slots = 0;
        var freeSlot = false;
        var work = pool.Queued;
        var longest = TimeSpan.Zero;
        foreach (var container in live)
        {
            if (container.Status != ContainerStatus.Ready)
            {
                continue;
            }
            slots += container.MaxInputs;
            freeSlot |= container.Running.Count < container.MaxInputs;
            foreach (var input in container.Running.Values)
            {
                work++;
                if (input.StartedAt != DateTimeOffset.MaxValue && now - input.StartedAt > longest)
                {
                    longest = now - input.StartedAt;
                }
            }
        }
        var perInput = Math.Max(Math.Max(serviceTime.TotalSeconds, longest.TotalSeconds), 1e-5);
        var drained = slots * coldStart.TotalSeconds / perInput;
        if (slots == 0 || work > drained
            || (pool.WithheldSince is { } since ? now - since > coldStart : !freeSlot))
        {
            pool.WithheldSince = null;
            return false;
        }
        pool.WithheldSince ??= now;
        return true;
    }

    /// <summary>
    /// The containers a pool keeps even while <see cref="Withhold"/> holds others back: its minimum, and the buffer on
    /// top of the containers holding work while the function is active, never above its maximum.
    /// </summary>
    private static int Floor(PoolState pool, IReadOnlyList<ContainerState> live)
    {
        var settings = pool.Settings;
        var active = pool.Queued + pool.RunningInputs + pool.Delayed.Count > 0;
        var floor = Math.Max(settings.MinContainers, live.Count(c => !c.IsIdle) + (active ? settings.BufferContainers : 0));
        return Math.Max(live.Count, settings.MaxContainers is { } max ? Math.Min(floor, max) : floor);
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
