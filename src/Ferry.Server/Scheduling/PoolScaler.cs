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
    private readonly Dictionary<string, PoolTimings> _timings = new(StringComparer.Ordinal);

    /// <summary>
    /// What this server has measured of a function's containers: kept by app name and function, so a new run of the
    /// same app starts with what the last one learnt.
    /// </summary>
    public PoolTimings TimingsOf(PoolState pool)
    {
        var key = pool.App.Record.Name + "\n" + pool.Function.Name;
        lock (_timings)
        {
            if (!_timings.TryGetValue(key, out var timings))
            {
                timings = new PoolTimings();
                _timings[key] = timings;
            }
            return timings;
        }
    }

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
        var now = clock.GetUtcNow();
        if (surplus <= 0)
        {
            var toStart = -surplus;
            // Web requests want a container at once; for inputs, a container that would be ready only after the work
            // is done is not started. Containers the settings ask for (minimum, buffer) always are.
            if (toStart > 0 && settings.Web is null && pool.WebWaiting == 0 && pool.WebInFlight == 0)
            {
                var asked = Math.Max(0, settings.MinContainers - live.Count) + settings.BufferContainers;
                toStart = Math.Min(toStart, WorthStarting(Forecast(pool, live, now)) + asked);
            }
            return new ScalePlan(desired, toStart, []);
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

    private ScaleForecast Forecast(PoolState pool, List<ContainerState> live, DateTimeOffset now)
    {
        var timings = TimingsOf(pool);
        var settings = pool.Settings;
        var coldStart = timings.ColdStart ?? PoolTimings.DefaultColdStart;
        var started = live.SelectMany(c => c.Running.Values).Where(i => i.StartedAt != DateTimeOffset.MaxValue).ToList();
        var longest = started.Count == 0 ? TimeSpan.Zero : now - started.Min(i => i.StartedAt);
        var waitingInContainers = live.Sum(c => c.Running.Count) - started.Count;
        return new ScaleForecast(
            Work: pool.Ready.Count + waitingInContainers + started.Count,
            SlotsPerContainer: Math.Max(1, (settings.TargetInputs ?? settings.MaxInputs) * Math.Max(1, settings.BatchMaxSize ?? 1)),
            ReadyContainers: live.Count(c => c.Status == ContainerStatus.Ready),
            StartingReadyIn: [.. live.Where(c => c.Status == ContainerStatus.Starting).Select(c => Max(TimeSpan.Zero, coldStart - (now - c.CreatedAt)))],
            ColdStart: coldStart,
            RunTime: timings.RunTime,
            LongestRunning: longest);
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>
    /// How many containers to start now for a pool's inputs, weighing the expected cold start against how fast the
    /// containers it has would drain the work. An input takes at least the longer of the measured run time and the
    /// age of the oldest input still running. The work left once a container started now would be ready is what the
    /// ready and starting containers cannot finish by then; enough containers are started to drain that within about
    /// one more cold start, at most one per slot of work, counting those already live. With no run time known yet,
    /// one container is started if none is live, and more only once inputs show how long they take.
    /// </summary>
    internal static int WorthStarting(ScaleForecast forecast)
    {
        var live = forecast.ReadyContainers + forecast.StartingReadyIn.Count;
        if (forecast.Work <= 0)
        {
            return 0;
        }
        var runTime = Max(forecast.RunTime ?? TimeSpan.Zero, forecast.LongestRunning);
        if (runTime <= TimeSpan.Zero)
        {
            return live == 0 ? 1 : 0;
        }
        var slots = forecast.SlotsPerContainer;
        var coldStart = forecast.ColdStart;
        var doneByThen = forecast.ReadyContainers * slots * (coldStart / runTime)
            + forecast.StartingReadyIn.Sum(readyIn => slots * (Max(TimeSpan.Zero, coldStart - readyIn) / runTime));
        var left = forecast.Work - doneByThen;
        if (left <= 0)
        {
            return 0;
        }
        var toDrainInOneColdStart = (int)Math.Ceiling(left * (runTime / coldStart) / slots);
        var onePerSlot = (int)Math.Ceiling(left / slots);
        var wanted = Math.Min(toDrainInOneColdStart, onePerSlot);
        return Math.Max(live == 0 ? 1 : 0, wanted - live);
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

/// <summary>What <see cref="PoolScaler.WorthStarting"/> weighs for a pool.</summary>
/// <param name="Work">Inputs waiting or running: in the pool's queue, queued in containers, or started.</param>
/// <param name="SlotsPerContainer">Inputs one container runs at once.</param>
/// <param name="ReadyContainers">Containers ready to run inputs.</param>
/// <param name="StartingReadyIn">For each starting container, how long until it is expected to be ready.</param>
/// <param name="ColdStart">How long a container takes from start to ready, as measured (or the default).</param>
/// <param name="RunTime">How long an input has taken on average, or null before any finished.</param>
/// <param name="LongestRunning">How long the oldest input still running has run.</param>
internal sealed record ScaleForecast(
    int Work,
    int SlotsPerContainer,
    int ReadyContainers,
    IReadOnlyList<TimeSpan> StartingReadyIn,
    TimeSpan ColdStart,
    TimeSpan? RunTime,
    TimeSpan LongestRunning);

/// <summary>
/// Moving averages of a function's container cold starts (start to ready) and input run times, each new measurement
/// weighing <see cref="Weight"/>.
/// </summary>
internal sealed class PoolTimings
{
    /// <summary>The cold start assumed before any container of the function has become ready.</summary>
    public static readonly TimeSpan DefaultColdStart = TimeSpan.FromSeconds(2);

    /// <summary>How much a new measurement counts against the average so far.</summary>
    public const double Weight = 0.3;

    private readonly Lock _gate = new();
    private TimeSpan? _coldStart;
    private TimeSpan? _runTime;

    public TimeSpan? ColdStart
    {
        get
        {
            lock (_gate)
            {
                return _coldStart;
            }
        }
    }

    public TimeSpan? RunTime
    {
        get
        {
            lock (_gate)
            {
                return _runTime;
            }
        }
    }

    public void ObserveColdStart(TimeSpan startToReady)
    {
        lock (_gate)
        {
            _coldStart = Average(_coldStart, startToReady);
        }
    }

    public void ObserveRun(TimeSpan run)
    {
        lock (_gate)
        {
            _runTime = Average(_runTime, run);
        }
    }

    private static TimeSpan Average(TimeSpan? average, TimeSpan sample) =>
        average is { } before ? before * (1 - Weight) + sample * Weight : sample;
}
