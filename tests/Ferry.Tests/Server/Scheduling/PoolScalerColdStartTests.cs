using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Ferry.Server.Workers;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Scheduling;

/// <summary>
/// The rule that a container is started for a backlog only if it is expected to be ready before the backlog drains:
/// the measured cold start against the ready containers' measured service time.
/// </summary>
public sealed class PoolScalerColdStartTests
{
    private static readonly FunctionSettings Defaults = new();

    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private long _nextInput;

    private sealed class NullPeer : IPeer<WorkerMessage>
    {
        public bool Send(WorkerMessage message) => true;

        public void Close()
        {
        }
    }

    private static readonly WorkerState Worker = new("w", "w", "process", new WorkerResources(8, 16384, [], 16), new NullPeer());

    private static PoolState Pool(FunctionSettings settings, string appName = "app")
    {
        var function = new FunctionDefinition("f", [], "int", settings);
        var app = new AppState(new AppRecord("ap-" + appName, appName, "bd-1", AppStates.Running, false, DateTimeOffset.UnixEpoch, null, new AppDefinition(appName, [function], [])));
        var pool = new PoolState("f", app, function, settings, null);
        app.Pools["f"] = pool;
        return pool;
    }

    private ContainerState Container(PoolState pool, ContainerStatus status = ContainerStatus.Ready, int maxInputs = 1)
    {
        var id = "ct-" + (pool.Containers.Count + 1);
        var container = new ContainerState(id, "secret", pool, Worker, new Reservation(0, 0, []), _clock.GetUtcNow()) { Status = status, MaxInputs = maxInputs };
        pool.Containers[id] = container;
        return container;
    }

    private InputState Input(PoolState pool)
    {
        var call = new CallState(new CallRecord("fc-1", "ap-1", "f", pool.PoolId, "map", DateTimeOffset.UnixEpoch, true, null), pool);
        var id = ++_nextInput;
        return new InputState(id, call, (int)id, null, null);
    }

    /// <summary>Queues <paramref name="count"/> inputs at the server.</summary>
    private void Backlog(PoolState pool, int count)
    {
        for (var i = 0; i < count; i++)
        {
            pool.Ready.AddLast(Input(pool));
        }
    }

    /// <summary>Gives a container an input, started <paramref name="elapsed"/> ago, or queued in it if null.</summary>
    private void Give(ContainerState container, TimeSpan? elapsed)
    {
        var input = Input(container.Pool);
        input.Status = InputStatus.Running;
        input.Container = container;
        input.StartedAt = elapsed is { } e ? _clock.GetUtcNow() - e : DateTimeOffset.MaxValue;
        container.Running[input.Id] = input;
    }

    /// <summary>A pool with one warm container, whose cold start and service time have been measured.</summary>
    private (PoolState Pool, PoolScaler Scaler) Warm(FunctionSettings settings, double coldMs, double serviceMs)
    {
        var scaler = new PoolScaler(_clock);
        var pool = Pool(settings);
        Container(pool);
        scaler.RecordColdStart(pool, TimeSpan.FromMilliseconds(coldMs));
        PoolScaler.RecordServiceTime(pool, TimeSpan.FromMilliseconds(serviceMs));
        return (pool, scaler);
    }

    [Theory]
    // backlog at the server, cold start, service time, containers to start
    [InlineData(5, 500, 5, 0)] // a small map of a trivial function: drained long before a new container is ready
    [InlineData(100, 500, 5, 0)] // 100 × 5 ms = 0.5 s: done as a new container would be ready
    [InlineData(101, 500, 5, 1)] // one input left for a new container
    [InlineData(5, 500, 1000, 4)] // slow inputs: the warm container takes one, each new one another
    [InlineData(20, 500, 100, 15)] // 5 of 20 done in the cold start: 15 left, one per container
    [InlineData(1000, 500, 100, 995)] // a long backlog scales out: all but the 5 inputs done during the cold start
    public void Plan_BacklogOnAWarmContainer_StartsOnlyContainersThatWouldTakeWork(int backlog, double coldMs, double serviceMs, int toStart)
    {
        var (pool, scaler) = Warm(Defaults, coldMs, serviceMs);
        Backlog(pool, backlog);

        scaler.Plan(pool).ToStart.Should().Be(toStart);
    }

    [Theory]
    // inputs queued in the warm container, running time of its current input, backlog at the server, containers to start
    [InlineData(4, 0, 0, 0)] // nothing at the server
    [InlineData(4, 2000, 0, 0)] // slow, but a new container could take none of the inputs the warm one holds
    [InlineData(4, 0, 5, 0)] // 10 × 5 ms: done in 50 ms
    [InlineData(4, 2000, 3, 3)] // the running input has taken 2 s against an average of 5 ms: the average is too low
    public void Plan_InputsHeldByTheContainer_DelayItButStayWithIt(int queued, double runningForMs, int backlog, int toStart)
    {
        var (pool, scaler) = Warm(Defaults, 500, 5);
        var warm = pool.Containers.Values.Single();
        Give(warm, TimeSpan.FromMilliseconds(runningForMs));
        for (var i = 0; i < queued; i++)
        {
            Give(warm, null);
        }
        Backlog(pool, backlog);

        scaler.Plan(pool).ToStart.Should().Be(toStart);
    }

    [Theory]
    [InlineData(5, true)] // containers withheld: the dispatcher keeps the inputs at the server
    [InlineData(0, false)] // nothing asked for, nothing withheld
    public void Plan_WithheldContainers_MarkThePoolWithholding(int backlog, bool withholding)
    {
        var (pool, scaler) = Warm(Defaults, 500, 5);
        Backlog(pool, backlog);

        scaler.Plan(pool);

        pool.Withholding.Should().Be(withholding);
    }

    [Fact]
    public void Plan_NothingMeasuredYet_StartsWhatTheLoadAsks()
    {
        var scaler = new PoolScaler(_clock);
        var pool = Pool(Defaults);
        Container(pool);
        Backlog(pool, 5);

        scaler.Plan(pool).ToStart.Should().Be(4, "without a service time there is nothing to weigh the cold start against");

        scaler.RecordColdStart(pool, TimeSpan.FromMilliseconds(500));
        scaler.Plan(pool).ToStart.Should().Be(4, "still no service time");

        PoolScaler.RecordServiceTime(pool, TimeSpan.FromMilliseconds(5));
        scaler.Plan(pool).ToStart.Should().Be(0);
    }

    [Fact]
    public void Plan_NoReadyContainer_StartsWhatTheLoadAsks()
    {
        var scaler = new PoolScaler(_clock);
        var pool = Pool(Defaults);
        scaler.RecordColdStart(pool, TimeSpan.FromMilliseconds(500));
        PoolScaler.RecordServiceTime(pool, TimeSpan.FromMilliseconds(5));
        Backlog(pool, 3);

        scaler.Plan(pool).ToStart.Should().Be(3);
    }

    [Fact]
    public void Plan_StartingContainers_TakeTheirShareOnceExpectedReady()
    {
        var (pool, scaler) = Warm(Defaults, 1000, 100);
        Container(pool, ContainerStatus.Starting);
        _clock.Advance(TimeSpan.FromMilliseconds(500));
        Backlog(pool, 30);

        // 30 × 0.1 s = 3 s of work; in the 1 s a new container takes, the warm one does 1 s and the starting one,
        // ready in 0.5 s, another 0.5 s: 1.5 s (15 inputs) are left, more than the 28 missing containers could share.
        scaler.Plan(pool).ToStart.Should().Be(15);
    }

    [Fact]
    public void Plan_ConcurrentContainers_DrainFasterAndTakeMoreEach()
    {
        var (pool, scaler) = Warm(Defaults with { MaxInputs = 4 }, 500, 100);
        pool.Containers.Values.Single().MaxInputs = 4;
        Backlog(pool, 40);

        // 40 × 0.1 s = 4 s of slot time; 4 slots do 2 s of it in the cold start: 20 inputs left, 4 per container.
        scaler.Plan(pool).ToStart.Should().Be(5);
    }

    [Theory]
    [InlineData(2, 0, 1)] // MinContainers 2 with one warm container
    [InlineData(0, 1, 1)] // one buffer container on top of the busy one
    public void Plan_MinimumAndBuffer_StartedEvenWhenTheBacklogDrainsFirst(int minContainers, int buffer, int toStart)
    {
        var (pool, scaler) = Warm(Defaults with { MinContainers = minContainers, BufferContainers = buffer }, 500, 5);
        Give(pool.Containers.Values.Single(), TimeSpan.Zero);
        Backlog(pool, 5);

        scaler.Plan(pool).ToStart.Should().Be(toStart);
    }

    [Fact]
    public void RecordColdStart_MovingAverage_RememberedForTheNextAppOfTheSameName()
    {
        var scaler = new PoolScaler(_clock);
        var first = Pool(Defaults, "same");
        scaler.RecordColdStart(first, TimeSpan.FromMilliseconds(1000));
        scaler.RecordColdStart(first, TimeSpan.FromMilliseconds(2000));

        first.ColdStart.Should().Be(TimeSpan.FromMilliseconds(1300));
        scaler.ExpectedColdStart(Pool(Defaults, "same")).Should().Be(TimeSpan.FromMilliseconds(1300));
        scaler.ExpectedColdStart(Pool(Defaults, "other")).Should().BeNull();
    }

    [Fact]
    public void RecordServiceTime_MovingAverage_WeighsTheNewestByTheSmoothing()
    {
        var pool = Pool(Defaults);

        PoolScaler.RecordServiceTime(pool, TimeSpan.FromMilliseconds(100));
        PoolScaler.RecordServiceTime(pool, TimeSpan.FromMilliseconds(200));

        pool.ServiceTime.Should().Be(TimeSpan.FromMilliseconds(130));
    }
}
