using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Ferry.Server.Workers;
using Microsoft.Extensions.Time.Testing;
using static Ferry.Tests.Scheduling.PoolFixtures;

namespace Ferry.Tests.Scheduling;

public sealed class PoolDispatcherTests
{
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private sealed class RecordingPeer : IPeer<ContainerMessage>
    {
        public List<ContainerMessage> Sent { get; } = [];

        public bool Send(ContainerMessage message)
        {
            Sent.Add(message);
            return true;
        }

        public void Close()
        {
        }
    }

    private ContainerState Container(PoolState pool, string id, ContainerStatus status, int maxInputs = 1)
    {
        var container = new ContainerState(id, "secret", pool, PoolFixtures.Worker, new Reservation(0, 0, []), _clock.GetUtcNow())
        {
            Status = status,
            MaxInputs = maxInputs,
            Peer = status == ContainerStatus.Ready ? new RecordingPeer() : null,
        };
        pool.Containers[id] = container;
        return container;
    }

    private static List<InputState> Queue(PoolState pool, int count)
    {
        var call = new CallState(new CallRecord("fc-1", "ap-1", "f", pool.PoolId, "map", DateTimeOffset.UnixEpoch, true, null), pool);
        var inputs = Enumerable.Range(0, count).Select(i => new InputState(i + 1, call, i, null, null)).ToList();
        foreach (var input in inputs)
        {
            pool.Ready.AddLast(input);
        }
        return inputs;
    }

    private static IEnumerable<long> Sent(ContainerState container) =>
        ((RecordingPeer)container.Peer!).Sent.Cast<InputBatch>().SelectMany(b => b.Inputs).Select(i => i.InputId);

    [Theory]
    [InlineData(new string[0], nameof(PoolPhase.Cold))]
    [InlineData(new[] { "Starting" }, nameof(PoolPhase.Cold))]
    [InlineData(new[] { "Starting", "Stopping" }, nameof(PoolPhase.Cold))]
    [InlineData(new[] { "Ready", "Starting" }, nameof(PoolPhase.Warming))]
    [InlineData(new[] { "Ready" }, nameof(PoolPhase.Warm))]
    [InlineData(new[] { "Ready", "Stopping" }, nameof(PoolPhase.Warm))]
    public void PhaseOf_ContainerStates_NamesThePhase(string[] states, string phase)
    {
        var pool = Pool(new FunctionSettings());
        for (var i = 0; i < states.Length; i++)
        {
            Container(pool, $"ct-{i}", Enum.Parse<ContainerStatus>(states[i]));
        }

        PoolDispatcher.PhaseOf(pool).Should().Be(Enum.Parse<PoolPhase>(phase));
    }

    [Fact]
    public void Dispatch_PoolCappedAtTheCores_FeedsOnlyTheBusiestContainers()
    {
        var pool = Pool(new FunctionSettings());
        var a = Container(pool, "ct-a", ContainerStatus.Ready);
        var b = Container(pool, "ct-b", ContainerStatus.Ready);
        var c = Container(pool, "ct-c", ContainerStatus.Ready);
        var held = new InputState(100, new CallState(new CallRecord("fc-0", "ap-1", "f", pool.PoolId, "map", DateTimeOffset.UnixEpoch, true, null), pool), 0, null, null);
        c.Running[held.Id] = held;
        Queue(pool, 30);
        pool.CoreCap = 2;

        new PoolDispatcher(_clock).Dispatch(pool).Should().BeTrue();

        Sent(c).Should().HaveCount(4, "it holds an input already, so it is among the busiest, and fills its queue of 5");
        Sent(a).Should().HaveCount(5, "it comes first of the equally idle");
        Sent(b).Should().BeEmpty("two containers are fed, one per core, and this one is left to scale down");
        pool.Ready.Should().HaveCount(21);
    }

    [Fact]
    public void Dispatch_NoCap_FeedsEveryReadyContainer()
    {
        var pool = Pool(new FunctionSettings());
        var containers = new[] { "ct-a", "ct-b", "ct-c" }.Select(id => Container(pool, id, ContainerStatus.Ready)).ToList();
        Queue(pool, 30);

        new PoolDispatcher(_clock).Dispatch(pool).Should().BeTrue();

        containers.Should().OnlyContain(container => Sent(container).Any());
    }

    [Fact]
    public void Dispatch_WarmPool_SpreadsLeastLoadedFirstThenPrefetches()
    {
        var pool = Pool(new FunctionSettings { MaxInputs = 2 });
        var a = Container(pool, "ct-a", ContainerStatus.Ready, maxInputs: 2);
        var b = Container(pool, "ct-b", ContainerStatus.Ready, maxInputs: 2);
        var inputs = Queue(pool, 8);

        new PoolDispatcher(_clock).Dispatch(pool).Should().BeTrue();

        Sent(a).Should().Equal(1, 3, 5, 7);
        Sent(b).Should().Equal(2, 4, 6, 8);
        pool.Ready.Should().BeEmpty();
        inputs.Select(i => i.StartedAt == _clock.GetUtcNow()).Should().Equal(new[] { true, true, true, true, false, false, false, false },
            "beyond its concurrency a container only queues inputs");
    }

    [Fact]
    public void Dispatch_WarmingPool_GivesReadyContainersOnlyTheirConcurrency()
    {
        var pool = Pool(new FunctionSettings { MaxInputs = 2 });
        var ready = Container(pool, "ct-a", ContainerStatus.Ready, maxInputs: 2);
        Container(pool, "ct-b", ContainerStatus.Starting);
        Queue(pool, 5);

        new PoolDispatcher(_clock).Dispatch(pool).Should().BeTrue();

        Sent(ready).Should().Equal(1, 2);
        pool.Ready.Select(i => i.Id).Should().Equal(3, 4, 5);
    }

    [Fact]
    public void TakeFirstInput_ColdPoolOnly_HandsTheNextInputUnstarted()
    {
        var pool = Pool(new FunctionSettings());
        var starting = Container(pool, "ct-a", ContainerStatus.Starting);
        Queue(pool, 2);
        var dispatcher = new PoolDispatcher(_clock);

        dispatcher.TakeFirstInput(pool, starting)!.InputId.Should().Be(1);
        starting.Running[1].StartedAt.Should().Be(DateTimeOffset.MaxValue, "it starts when the container reports ready");

        Container(pool, "ct-b", ContainerStatus.Ready);
        dispatcher.TakeFirstInput(pool, Container(pool, "ct-c", ContainerStatus.Starting)).Should().BeNull("the pool is no longer cold");
        pool.Ready.Select(i => i.Id).Should().Equal(2);
    }

    [Fact]
    public void PromoteQueued_FreeSlots_StartsTheOldestQueuedInOrder()
    {
        var pool = Pool(new FunctionSettings { MaxInputs = 2 });
        var container = Container(pool, "ct-a", ContainerStatus.Ready, maxInputs: 2);
        Queue(pool, 6);
        new PoolDispatcher(_clock).Dispatch(pool);
        container.Running.Remove(1);
        _clock.Advance(TimeSpan.FromSeconds(1));

        PoolDispatcher.PromoteQueued(container, _clock.GetUtcNow());

        container.Running.Values.Where(i => i.StartedAt == _clock.GetUtcNow()).Select(i => i.Id).Should().Equal(3);
    }

    [Fact]
    public void Dispatch_WarmPoolOfAFastFunction_QueuesUpTo64PerSlot()
    {
        var pool = Pool(new FunctionSettings { MaxInputs = 1 });
        var container = Container(pool, "ct-a", ContainerStatus.Ready);
        container.RecordRun(TimeSpan.FromMilliseconds(0.1));
        Queue(pool, 100);

        new PoolDispatcher(_clock).Dispatch(pool).Should().BeTrue();

        Sent(container).Should().Equal(Enumerable.Range(1, 64).Select(i => (long)i));
        pool.Ready.Should().HaveCount(36);
    }

    [Theory]
    [InlineData(null, 5)]
    [InlineData(0.1, 64)]
    [InlineData(2.0, 25)]
    [InlineData(10.0, 5)]
    [InlineData(500.0, 5)]
    public void CapacityAt_MeasuredRunTime_HoldsAboutFiftyMillisecondsOfWorkPerSlot(double? averageMs, int perSlot)
    {
        var pool = Pool(new FunctionSettings { MaxInputs = 2 });
        var container = Container(pool, "ct-a", ContainerStatus.Ready, maxInputs: 2);
        if (averageMs is { } ms)
        {
            container.RecordRun(TimeSpan.FromMilliseconds(ms));
        }

        container.CapacityAt(_clock.GetUtcNow()).Should().Be(2 * perSlot);
    }

    [Fact]
    public void CapacityAt_AnInputRunningLongerThanTheQueuedWork_FallsBackToTheShortQueue()
    {
        var pool = Pool(new FunctionSettings { MaxInputs = 1 });
        var container = Container(pool, "ct-a", ContainerStatus.Ready);
        container.RecordRun(TimeSpan.FromMilliseconds(0.1));
        Queue(pool, 1);
        new PoolDispatcher(_clock).Dispatch(pool).Should().BeTrue();
        container.CapacityAt(_clock.GetUtcNow()).Should().Be(64);

        _clock.Advance(ContainerState.QueuedWork + TimeSpan.FromMilliseconds(1));

        container.CapacityAt(_clock.GetUtcNow()).Should().Be(5, "inputs queued behind one that blocks could wait on it forever");
    }
}
