using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Ferry.Server.Workers;
using Microsoft.Extensions.Time.Testing;
using static Ferry.Tests.Scheduling.PoolFixtures;

namespace Ferry.Tests.Scheduling;

/// <summary>
/// A pool whose function runs for well under a millisecond per input, by its containers' clocks, gets at most one
/// container per worker core for its load; any other pool scales with its backlog.
/// </summary>
public sealed class PoolScalerCoresTests
{
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private static readonly TimeSpan Trivial = TimeSpan.FromMicroseconds(20);

    private static void Queue(PoolState pool, int count)
    {
        var call = new CallState(new CallRecord("fc-1", "ap-1", pool.PoolId, pool.PoolId, CallKinds.Map, DateTimeOffset.UnixEpoch, true, null), pool);
        for (var i = 0; i < count; i++)
        {
            pool.Ready.AddLast(new InputState(i + 1, call, i, null, null));
        }
    }

    private ContainerState Ready(PoolState pool, string id)
    {
        var container = new ContainerState(id, "secret", pool, PoolFixtures.Worker, new Reservation(0, 0, []), _clock.GetUtcNow()) { Status = ContainerStatus.Ready };
        pool.Containers[id] = container;
        return container;
    }

    [Fact]
    public void Plan_TrivialFunctionWithABacklog_StartsOneContainerPerCore()
    {
        var pool = Pool(new FunctionSettings());
        PoolScaler.RecordRunTime(pool, Trivial);
        Queue(pool, 10_000);

        var plan = new PoolScaler(_clock).Plan(pool, cores: 2);

        plan.ToStart.Should().Be(2);
        pool.CoreCap.Should().Be(2);
    }

    [Fact]
    public void Plan_FunctionNotMeasuredYet_FansOutWithTheBacklog()
    {
        var pool = Pool(new FunctionSettings { MaxContainers = 12 });
        Queue(pool, 10_000);

        var plan = new PoolScaler(_clock).Plan(pool, cores: 2);

        plan.ToStart.Should().Be(12, "a first map may be of slow inputs, which should not wait to be measured");
        pool.CoreCap.Should().BeNull();
    }

    [Fact]
    public void Plan_FunctionOfAMillisecondOrMore_FansOutWithTheBacklog()
    {
        var pool = Pool(new FunctionSettings { MaxContainers = 12 });
        PoolScaler.RecordRunTime(pool, TimeSpan.FromMilliseconds(3));
        Queue(pool, 10_000);

        new PoolScaler(_clock).Plan(pool, cores: 2).ToStart.Should().Be(12);
    }

    [Fact]
    public void Plan_TrivialOnAverageButOneInputRunsLong_LiftsTheCap()
    {
        var pool = Pool(new FunctionSettings { MaxContainers = 12 });
        PoolScaler.RecordRunTime(pool, Trivial);
        var container = Ready(pool, "ct-a");
        var call = new CallState(new CallRecord("fc-0", "ap-1", "f", pool.PoolId, CallKinds.Map, DateTimeOffset.UnixEpoch, true, null), pool);
        container.Running[1] = new InputState(1, call, 0, null, null) { StartedAt = _clock.GetUtcNow() };
        Queue(pool, 10_000);
        var scaler = new PoolScaler(_clock);

        scaler.Plan(pool, cores: 2).ToStart.Should().Be(1, "two containers for the cores, one of them there");

        _clock.Advance(PoolScaler.LongRunningInput);

        scaler.Plan(pool, cores: 2).ToStart.Should().Be(11, "an input running for a second shows the function is not trivial now");
        pool.CoreCap.Should().BeNull();
    }

    [Fact]
    public void Plan_CappedPool_KeepsItsMinimumAndBuffer()
    {
        var pool = Pool(new FunctionSettings { MinContainers = 3, BufferContainers = 1 });
        PoolScaler.RecordRunTime(pool, Trivial);
        Queue(pool, 10_000);

        new PoolScaler(_clock).Plan(pool, cores: 1).ToStart.Should().Be(3, "one for the core and the buffer's one would be 2, below the minimum");

        var buffered = Pool(new FunctionSettings { BufferContainers = 2 }, "g");
        PoolScaler.RecordRunTime(buffered, Trivial);
        Queue(buffered, 10_000);

        new PoolScaler(_clock).Plan(buffered, cores: 2).ToStart.Should().Be(4, "the buffer the user asked for comes on top of the cores");
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void RunsOnCores_BatchingOrWebPool_IsNeverCapped(bool batching, bool web)
    {
        var settings = new FunctionSettings
        {
            BatchMaxSize = batching ? 8 : null,
            Web = web ? new WebEndpointSpec(WebEndpointKinds.Function, "f") : null,
        };
        var pool = Pool(settings);
        PoolScaler.RecordRunTime(pool, Trivial);

        PoolScaler.RunsOnCores(pool, _clock.GetUtcNow()).Should().BeFalse();
    }

    [Fact]
    public void Plan_WithoutCores_LeavesTheLoadUncapped()
    {
        var pool = Pool(new FunctionSettings { MaxContainers = 12 });
        PoolScaler.RecordRunTime(pool, Trivial);
        Queue(pool, 10_000);

        new PoolScaler(_clock).Plan(pool).ToStart.Should().Be(12);
    }
}
