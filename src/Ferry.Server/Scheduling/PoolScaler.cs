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
    /// <summary>The weight of the newest measurement in the moving averages of cold starts and service times.</summary>
    internal const double Smoothing = 0.3;

    /// <summary>
    /// Cold starts by app name and function, so that the pools of the next run of the same app (each <c>ferry run</c>
    /// creates a new app) start out with what the last one measured. Bounded: the oldest entry goes first.
    /// </summary>
    private readonly Dictionary<string, TimeSpan> _coldStarts = new(StringComparer.Ordinal);
    private readonly Queue<string> _coldStartOrder = new();
    private const int RememberedColdStarts = 1024;

    /// <summary>Adds a container's start-to-ready time to its pool's moving average, and remembers it for the function.</summary>
    public void RecordColdStart(PoolState pool, TimeSpan elapsed)
    {
        pool.ColdStart = Average(pool.ColdStart ?? ExpectedColdStart(pool), elapsed);
        var key = ColdStartKey(pool);
        if (_coldStarts.TryAdd(key, pool.ColdStart.Value))
        {
            _coldStartOrder.Enqueue(key);
            if (_coldStartOrder.Count > RememberedColdStarts)
            {
                _coldStarts.Remove(_coldStartOrder.Dequeue());
            }
        }
        else
        {
            _coldStarts[key] = pool.ColdStart.Value;
        }
    }

    /// <summary>Adds how long one input ran to its pool's moving average.</summary>
    public static void RecordServiceTime(PoolState pool, TimeSpan elapsed) =>
        pool.ServiceTime = Average(pool.ServiceTime, elapsed < TimeSpan.Zero ? TimeSpan.Zero : elapsed);

    /// <summary>How long a new container of <paramref name="pool"/> is expected to take to be ready; null if unknown.</summary>
    public TimeSpan? ExpectedColdStart(PoolState pool) =>
        pool.ColdStart ?? (_coldStarts.TryGetValue(ColdStartKey(pool), out var known) ? known : null);

    private static string ColdStartKey(PoolState pool) => pool.App.Record.Name + "\0" + pool.PoolId;

    private static TimeSpan Average(TimeSpan? previous, TimeSpan sample) =>
        previous is { } p ? TimeSpan.FromTicks((long)((1 - Smoothing) * p.Ticks + Smoothing * sample.Ticks)) : sample;

    /// <summary>
    /// How many new containers could take work from <paramref name="pool"/>'s backlog before it drains: the inputs
    /// expected to be left once a new container is ready (after the expected cold start), with the ready containers
    /// working through what they hold and then the backlog at the measured service time, and the starting ones
    /// joining when they are expected ready, divided by the inputs one container takes. Only inputs queued at the
    /// server count as left: those handed to a container stay with it. <see cref="int.MaxValue"/> when there is nothing to go on yet (no
    /// ready container, no measured cold start or service time) or for a batching or web pool, whose service time
    /// this does not measure.
    /// </summary>
    public int WorthStarting(PoolState pool, IReadOnlyCollection<ContainerState> live, DateTimeOffset now)
    {
        var settings = pool.Settings;
        if ((settings.BatchMaxSize ?? 1) > 1 || settings.Web is not null || pool.WebWaiting > 0
            || ExpectedColdStart(pool) is not { } coldStart || pool.ServiceTime is not { } serviceTime)
        {
            return int.MaxValue;
        }
        var readySlots = 0;
        var startingSlotSeconds = 0.0;
        var service = Math.Max(serviceTime.TotalSeconds, 1e-4);
        var longest = 0.0;
        var waiting = pool.Ready.Count;
        var remaining = 0.0;
        foreach (var container in live)
        {
            if (container.Status == ContainerStatus.Ready)
            {
                readySlots += container.MaxInputs;
            }
            else
            {
                // Counted from when it is expected ready until the new container would be.
                var expectedReady = container.CreatedAt + coldStart;
                var overlap = coldStart - (expectedReady > now ? expectedReady - now : TimeSpan.Zero);
                startingSlotSeconds += Math.Max(1, settings.MaxInputs) * Math.Max(0, overlap.TotalSeconds);
            }
            foreach (var input in container.Running.Values)
            {
                if (input.StartedAt == DateTimeOffset.MaxValue)
                {
                    waiting++;
                    continue;
                }
                var elapsed = Math.Max(0, (now - input.StartedAt).TotalSeconds);
                longest = Math.Max(longest, elapsed);
                // An input that has outrun the average is expected to run about as long again.
                remaining += elapsed < service ? service - elapsed : elapsed;
            }
        }
        if (readySlots == 0)
        {
            return int.MaxValue;
        }
        // Inputs already running longer than the average say the average is too low for the ones waiting too.
        var perInput = Math.Max(service, longest);
        var work = remaining + waiting * perInput;
        var left = work - readySlots * coldStart.TotalSeconds - startingSlotSeconds;
        if (left <= 0)
        {
            return 0;
        }
        // Inputs already handed to a container stay with it: a new one can take only those queued at the server.
        var inputsLeft = (int)Math.Min(pool.Ready.Count, Math.Ceiling(left / perInput - 1e-9));
        var perContainer = Math.Max(1, settings.TargetInputs ?? settings.MaxInputs);
        return (inputsLeft + perContainer - 1) / perContainer;
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
            var toStart = ToStart(pool, live, desired, now);
            pool.Withholding = toStart < -surplus;
            return new ScalePlan(desired, toStart, []);
        }
        pool.Withholding = false;
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
    /// Of the containers <paramref name="desired"/> asks for beyond <paramref name="live"/>, those to start now: only
    /// as many as are expected to take work before the backlog drains (see <see cref="WorthStarting"/>), but always
    /// enough for the minimum and for the buffer on top of the containers holding work.
    /// </summary>
    private int ToStart(PoolState pool, List<ContainerState> live, int desired, DateTimeOffset now)
    {
        var missing = desired - live.Count;
        if (missing <= 0)
        {
            return 0;
        }
        var worth = WorthStarting(pool, live, now);
        if (worth >= missing)
        {
            return missing;
        }
        var settings = pool.Settings;
        var active = pool.Ready.Count + pool.RunningInputs + pool.Delayed.Count + pool.WebWaiting + pool.WebInFlight > 0;
        var floor = Math.Max(settings.MinContainers, live.Count(c => !c.IsIdle) + (active ? settings.BufferContainers : 0));
        floor = settings.MaxContainers is { } max ? Math.Min(floor, max) : floor;
        return Math.Min(missing, Math.Max(worth, floor - live.Count));
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
