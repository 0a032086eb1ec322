using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Ferry.Server.Workers;
using Microsoft.Extensions.Time.Testing;
using static Ferry.Tests.Scheduling.PoolFixtures;

namespace Ferry.Tests.Scheduling;

/// <summary>
/// The rule that gives a pool of short, CPU-bound inputs no more containers than the workers have cores, and lets a
/// pool whose inputs wait (on I/O, a sleep) scale out as its load asks.
/// </summary>
public sealed class PoolScalerCpuTests
{
    private const int Cores = 2;

    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly PoolScaler _scaler;
    private long _nextInput;

    public PoolScalerCpuTests() => _scaler = new PoolScaler(_clock);

    private ContainerState Container(PoolState pool, ContainerStatus status = ContainerStatus.Ready)
    {
        var id = "ct-" + (pool.Containers.Count + 1);
        var container = new ContainerState(id, "secret", pool, PoolFixtures.Worker, new Reservation(0, 0, []), _clock.GetUtcNow()) { Status = status, MaxInputs = 1 };
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

    /// <summary>Gives a container an input that started <paramref name="elapsed"/> ago.</summary>
    private void Give(ContainerState container, TimeSpan elapsed)
    {
        var input = Input(container.Pool);
        input.Status = InputStatus.Running;
        input.Container = container;
        input.StartedAt = _clock.GetUtcNow() - elapsed;
        container.Running[input.Id] = input;
    }

    /// <summary>Has <paramref name="container"/> finish inputs of <paramref name="elapsed"/> each, as the scheduler records them.</summary>
    private static void Finish(ContainerState container, TimeSpan elapsed, int count = 1)
    {
        for (var i = 0; i < count; i++)
        {
            PoolScaler.RecordServiceTime(container.Pool, elapsed, first: container.AverageRunMs is null);
            container.RecordRun(elapsed);
        }
    }

    [Fact]
    public void Plan_NewPoolWithALargeMap_StartsAsManyContainersAsCores()
    {
        var pool = Pool(new FunctionSettings());
        Backlog(pool, 100_000);

        var plan = _scaler.Plan(pool, Cores);

        plan.ToStart.Should().Be(2);
        plan.Desired.Should().Be(2);
    }

    [Theory]
    // warm service time in ms, containers to start beside the 2 ready ones
    [InlineData(0.05, 0)] // a trivial function: the two containers already use both cores
    [InlineData(4, 0)] // still short
    [InlineData(100, 98)] // a function that sleeps 100 ms: one container per input, as the load asks
    public void Plan_TwoBusyContainers_ScaleOutOnlyWhenInputsAreLong(double serviceMs, int toStart)
    {
        var pool = Pool(new FunctionSettings());
        foreach (var container in new[] { Container(pool), Container(pool) })
        {
            Finish(container, TimeSpan.FromMilliseconds(serviceMs), 3);
            Give(container, TimeSpan.Zero);
        }
        Backlog(pool, 98);

        _scaler.Plan(pool, Cores).ToStart.Should().Be(toStart);
    }

    [Fact]
    public void Plan_SlowFirstInputs_DoNotLiftTheCap()
    {
        var pool = Pool(new FunctionSettings());
        var container = Container(pool);
        Finish(container, TimeSpan.FromMilliseconds(300)); // the first input compiles the code it runs
        Finish(container, TimeSpan.FromMilliseconds(0.05), 2);
        Backlog(pool, 10_000);

        pool.ServiceTime.Should().BeGreaterThan(PoolScaler.ShortInput);
        _scaler.Plan(pool, Cores).Desired.Should().Be(2);
    }

    [Fact]
    public void Plan_AFewDelayedOutputsAmongShortInputs_KeepTheCap()
    {
        var pool = Pool(new FunctionSettings());
        var first = Container(pool);
        var second = Container(pool);
        Finish(first, TimeSpan.FromMilliseconds(200));
        Finish(second, TimeSpan.FromMilliseconds(200));
        Finish(first, TimeSpan.FromMilliseconds(0.05));
        Finish(second, TimeSpan.FromMilliseconds(40), 3); // a busy moment: three outputs late
        Backlog(pool, 10_000);

        _scaler.Plan(pool, Cores).Desired.Should().Be(2);

        Finish(first, TimeSpan.FromMilliseconds(40)); // the last few inputs were all long: they wait, not compute
        _scaler.Plan(pool, Cores).Desired.Should().Be(10_000);
    }

    [Fact]
    public void Plan_FirstInputsStillRunning_KeepTheCapUntilALaterInputRunsLong()
    {
        var pool = Pool(new FunctionSettings());
        var first = Container(pool);
        var second = Container(pool);
        Give(first, TimeSpan.FromMilliseconds(50)); // each container's first input: its time includes compiling
        Give(second, TimeSpan.FromMilliseconds(50));
        Backlog(pool, 98);

        _scaler.Plan(pool, Cores).ToStart.Should().Be(0);

        first.Running.Clear();
        Finish(first, TimeSpan.FromMilliseconds(100)); // only a first input finished: nothing warm measured yet
        Give(first, TimeSpan.FromMilliseconds(1));
        _scaler.Plan(pool, Cores).ToStart.Should().Be(0);

        _clock.Advance(TimeSpan.FromMilliseconds(10)); // the second input outlasts a short one: it waits, not computes
        _scaler.Plan(pool, Cores).ToStart.Should().Be(98);
    }

    [Fact]
    public void Plan_IoBoundMapOfAHundred_ScalesOutOnceAWarmInputIsMeasured()
    {
        var pool = Pool(new FunctionSettings());
        var container = Container(pool);
        Backlog(pool, 99);
        Finish(container, TimeSpan.FromMilliseconds(180));

        _scaler.Plan(pool, Cores).ToStart.Should().Be(1); // the cap of 2 while only a first input is measured

        Finish(container, TimeSpan.FromMilliseconds(100));
        var plan = _scaler.Plan(pool, Cores);

        plan.Desired.Should().Be(99);
        plan.ToStart.Should().Be(98);
    }

    [Fact]
    public void Plan_ShortInputsWithMinContainers_KeepsTheMinimum()
    {
        var pool = Pool(new FunctionSettings { MinContainers = 5 });
        Backlog(pool, 1_000);

        _scaler.Plan(pool, Cores).ToStart.Should().Be(5);
    }

    [Theory]
    // cores, the function's CPU request, the cap
    [InlineData(2, null, 2)]
    [InlineData(2, 0.5, 4)] // a container held to half a core: four fill two cores
    [InlineData(2, 4.0, 2)] // a container may use more than a core; the cap still counts cores
    [InlineData(3, 0.25, 12)]
    public void Plan_ContainersLimitedToPartOfACore_CountAsThatShare(int cores, double? cpu, int cap)
    {
        var pool = Pool(new FunctionSettings { Cpu = cpu });
        Backlog(pool, 1_000);

        _scaler.Plan(pool, cores).Desired.Should().Be(cap);
    }

    [Fact]
    public void Plan_BatchingPool_NotCapped()
    {
        var pool = Pool(new FunctionSettings { BatchMaxSize = 10, BatchWaitMs = 5 });
        Backlog(pool, 1_000);

        _scaler.Plan(pool, Cores).Desired.Should().Be(100);
    }

    [Fact]
    public void Plan_NoCoresGiven_NotCapped()
    {
        var pool = Pool(new FunctionSettings());
        Backlog(pool, 1_000);

        _scaler.Plan(pool).Desired.Should().Be(1_000);
    }
}
