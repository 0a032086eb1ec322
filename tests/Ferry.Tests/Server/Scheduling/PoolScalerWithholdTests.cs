using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Ferry.Server.Workers;
using Microsoft.Extensions.Time.Testing;
using static Ferry.Tests.Scheduling.PoolFixtures;

namespace Ferry.Tests.Scheduling;

/// <summary>
/// The rule that holds back new containers while the ready ones are expected to finish the pool's work before a new
/// one could be ready, and relents once the work outgrows them or has waited a cold start.
/// </summary>
public sealed class PoolScalerWithholdTests
{
    private static readonly FunctionSettings Defaults = new();

    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly PoolScaler _scaler;
    private long _nextInput;

    public PoolScalerWithholdTests() => _scaler = new PoolScaler(_clock);

    private ContainerState Container(PoolState pool, ContainerStatus status = ContainerStatus.Ready, int maxInputs = 1)
    {
        var id = "ct-" + (pool.Containers.Count + 1);
        var container = new ContainerState(id, "secret", pool, PoolFixtures.Worker, new Reservation(0, 0, []), _clock.GetUtcNow()) { Status = status, MaxInputs = maxInputs };
        pool.Containers[id] = container;
        return container;
    }

    private InputState Input(PoolState pool)
    {
        var call = new CallState(new CallRecord("fc-1", "ap-1", "f", pool.PoolId, "map", DateTimeOffset.UnixEpoch, true, null), pool);
        var id = ++_nextInput;
        return new InputState(id, call, (int)id, null, null);
    }

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
    private PoolState Warm(double coldMs, double serviceMs, FunctionSettings? settings = null, int maxInputs = 1)
    {
        var pool = Pool(settings ?? Defaults);
        Container(pool, maxInputs: maxInputs);
        PoolScaler.RecordColdStart(pool, TimeSpan.FromMilliseconds(coldMs));
        PoolScaler.RecordServiceTime(pool, TimeSpan.FromMilliseconds(serviceMs));
        return pool;
    }

    [Theory]
    // backlog at the server, cold start, service time, containers to start
    [InlineData(5, 130, 2, 0)] // a small map of a trivial function: done long before a new container is ready
    [InlineData(60, 130, 2, 0)] // 60 × 2 ms = 120 ms: done before a new container would be ready
    [InlineData(70, 130, 2, 69)] // more than the warm container drains in a cold start: the load's count
    [InlineData(5, 130, 1000, 4)] // slow inputs: each new container takes one
    [InlineData(10_000, 130, 0.1, 9_999)] // a large map scales out as the load asks
    public void Plan_BacklogOnAnIdleWarmContainer_HoldsBackOnlyWhatCouldNotTakeWork(int backlog, double coldMs, double serviceMs, int toStart)
    {
        var pool = Warm(coldMs, serviceMs);
        Backlog(pool, backlog);

        _scaler.Plan(pool).ToStart.Should().Be(toStart);
        pool.WithheldSince.HasValue.Should().Be(toStart == 0);
    }

    [Fact]
    public void Plan_WorkQueuedInTheWarmContainer_CountsAgainstWhatItDrains()
    {
        var pool = Warm(130, 2);
        Backlog(pool, 60);
        _scaler.Plan(pool).ToStart.Should().Be(0, "60 inputs of 2 ms drain in 120 ms");

        // The dispatcher hands 55 to the warm container: one running, the rest queued in it.
        var warm = pool.Containers.Values.Single();
        for (var i = 0; i < 55; i++)
        {
            pool.Ready.RemoveFirst();
            Give(warm, i == 0 ? TimeSpan.Zero : null);
        }
        _scaler.Plan(pool).ToStart.Should().Be(0, "the same work, wherever it waits");

        Backlog(pool, 6);
        _scaler.Plan(pool).ToStart.Should().Be(65, "66 inputs do not drain in 130 ms: the load asks a container per input");
    }

    [Fact]
    public void Plan_HeldLongerThanAColdStart_Relents()
    {
        var pool = Warm(130, 2);
        Backlog(pool, 5);
        _scaler.Plan(pool).ToStart.Should().Be(0);

        // The inputs went into the warm container, which holds them longer than expected.
        var warm = pool.Containers.Values.Single();
        pool.Ready.Clear();
        _clock.Advance(TimeSpan.FromMilliseconds(100));
        Give(warm, TimeSpan.Zero);
        Backlog(pool, 2);
        _scaler.Plan(pool).ToStart.Should().Be(0, "the hold has lasted 100 ms of the 130 ms a container would take");

        _clock.Advance(TimeSpan.FromMilliseconds(31));
        _scaler.Plan(pool).ToStart.Should().Be(2, "the inputs have waited longer than a cold start");
        pool.WithheldSince.Should().BeNull();
    }

    [Fact]
    public void Plan_RunningInputOutrunsTheAverage_ItsTimeCountsPerInput()
    {
        var pool = Warm(130, 2);
        Give(pool.Containers.Values.Single(), TimeSpan.FromMilliseconds(50));
        Backlog(pool, 1);

        // The busy container has no free slot, so nothing is held for a new backlog at all.
        _scaler.Plan(pool).ToStart.Should().Be(1);

        var concurrent = Warm(130, 2, Defaults with { MaxInputs = 4 }, maxInputs: 4);
        Give(concurrent.Containers.Values.Single(), TimeSpan.FromMilliseconds(50));
        Backlog(concurrent, 8);
        _scaler.Plan(concurrent).ToStart.Should().Be(0, "9 inputs at 50 ms on 4 slots: 112.5 ms");

        Backlog(concurrent, 2);
        _scaler.Plan(concurrent).ToStart.Should().Be(2, "11 inputs at 50 ms on 4 slots: 137.5 ms, longer than a cold start");
    }

    [Fact]
    public void Plan_EverySlotBusy_StartsWhatTheLoadAsks()
    {
        // Inputs that arrive while every slot is taken may be what the running ones wait for.
        var pool = Warm(500, 2, Defaults with { MaxInputs = 4 }, maxInputs: 4);
        var warm = pool.Containers.Values.Single();
        for (var i = 0; i < 4; i++)
        {
            Give(warm, TimeSpan.FromMilliseconds(1));
        }
        Backlog(pool, 1);

        _scaler.Plan(pool).ToStart.Should().Be(1);
    }

    [Fact]
    public void Plan_NothingMeasuredYet_StartsWhatTheLoadAsks()
    {
        var pool = Pool(Defaults);
        Container(pool);
        Backlog(pool, 5);

        _scaler.Plan(pool).ToStart.Should().Be(4, "without a cold start there is nothing to weigh the work against");

        PoolScaler.RecordColdStart(pool, TimeSpan.FromMilliseconds(500));
        _scaler.Plan(pool).ToStart.Should().Be(4, "still no service time");

        PoolScaler.RecordServiceTime(pool, TimeSpan.FromMilliseconds(5));
        _scaler.Plan(pool).ToStart.Should().Be(0);
    }

    [Fact]
    public void Plan_NoReadyContainer_StartsWhatTheLoadAsks()
    {
        var pool = Pool(Defaults);
        Container(pool, ContainerStatus.Starting);
        PoolScaler.RecordColdStart(pool, TimeSpan.FromMilliseconds(500));
        PoolScaler.RecordServiceTime(pool, TimeSpan.FromMilliseconds(5));
        Backlog(pool, 3);

        _scaler.Plan(pool).ToStart.Should().Be(2);
    }

    [Theory]
    [InlineData(2, 0, 1)] // MinContainers 2 with one warm container
    [InlineData(0, 1, 1)] // one buffer container on top of the busy one
    public void Plan_MinimumAndBuffer_StartedEvenWhileHolding(int minContainers, int buffer, int toStart)
    {
        var pool = Warm(500, 5, Defaults with { MinContainers = minContainers, BufferContainers = buffer }, maxInputs: 2);
        Give(pool.Containers.Values.Single(), TimeSpan.Zero);
        Backlog(pool, 5);

        _scaler.Plan(pool).ToStart.Should().Be(toStart);
    }

    [Fact]
    public void Plan_BatchingPool_NeverHolds()
    {
        var pool = Warm(500, 1, Defaults with { BatchMaxSize = 2 });
        Backlog(pool, 5);

        _scaler.Plan(pool).ToStart.Should().Be(2);
    }

    [Fact]
    public void Plan_WorkDone_EndsTheHold()
    {
        var pool = Warm(130, 2);
        Backlog(pool, 5);
        _scaler.Plan(pool);
        pool.WithheldSince.Should().Be(_clock.GetUtcNow());

        pool.Ready.Clear();
        _clock.Advance(TimeSpan.FromSeconds(1));
        _scaler.Plan(pool);
        pool.WithheldSince.Should().BeNull();

        // A later burst is weighed afresh, not as if it had waited since the first.
        Backlog(pool, 5);
        _scaler.Plan(pool).ToStart.Should().Be(0);
    }

    [Fact]
    public void RecordColdStartAndServiceTime_MovingAverages()
    {
        var pool = Pool(Defaults);
        PoolScaler.RecordColdStart(pool, TimeSpan.FromMilliseconds(1000));
        PoolScaler.RecordColdStart(pool, TimeSpan.FromMilliseconds(2000));
        PoolScaler.RecordServiceTime(pool, TimeSpan.FromMilliseconds(-3));

        pool.ColdStart.Should().Be(TimeSpan.FromMilliseconds(1300));
        pool.ServiceTime.Should().Be(TimeSpan.Zero);
    }
}
