using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Ferry.Server.Workers;
using Microsoft.Extensions.Time.Testing;
using static Ferry.Tests.Scheduling.PoolFixtures;

namespace Ferry.Tests.Scheduling;

public sealed class PoolScalerTests
{
    private static readonly FunctionSettings Defaults = new();

    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private ContainerState Container(PoolState pool, string id, ContainerStatus status = ContainerStatus.Ready)
    {
        var container = new ContainerState(id, "secret", pool, PoolFixtures.Worker, new Reservation(0, 0, []), _clock.GetUtcNow()) { Status = status };
        pool.Containers[id] = container;
        return container;
    }

    private static void Busy(ContainerState container)
    {
        var call = new CallState(new CallRecord("fc-1", "ap-1", container.Pool.Function.Name, container.Pool.PoolId, "call", DateTimeOffset.UnixEpoch, true, null), container.Pool);
        var input = new InputState(container.Running.Count + 1, call, container.Running.Count, null, null) { Status = InputStatus.Running, Container = container };
        container.Running[input.Id] = input;
    }

    [Theory]
    [InlineData(0, 0, 0, 0)]
    [InlineData(1, 0, 0, 1)]
    [InlineData(5, 3, 0, 8)]
    public void Desired_DefaultSettings_OneContainerPerInput(int backlog, int running, int delayed, int desired) =>
        PoolScaler.Desired(Defaults, backlog, running, delayed).Should().Be(desired);

    [Fact]
    public void Desired_MinAndMax_NeverAboveMaxNeverBelowMin()
    {
        PoolScaler.Desired(Defaults with { MaxContainers = 2 }, 100, 0, 0).Should().Be(2);
        PoolScaler.Desired(Defaults with { MinContainers = 3 }, 0, 0, 0).Should().Be(3);
    }

    [Fact]
    public void Desired_BufferContainers_AddedOnlyWhileActive()
    {
        var settings = Defaults with { BufferContainers = 2 };

        PoolScaler.Desired(settings, 0, 0, 0).Should().Be(0);
        PoolScaler.Desired(settings, 1, 0, 0).Should().Be(3);
        PoolScaler.Desired(settings, 0, 0, 1).Should().Be(2, "a delayed retry keeps the function active");
    }

    [Fact]
    public void Desired_ConcurrencyAndBatching_DivideTheLoad()
    {
        PoolScaler.Desired(Defaults with { MaxInputs = 4 }, 5, 0, 0).Should().Be(2);
        PoolScaler.Desired(Defaults with { MaxInputs = 10, TargetInputs = 2 }, 5, 0, 0).Should().Be(3);
        PoolScaler.Desired(Defaults with { BatchMaxSize = 8 }, 9, 0, 0).Should().Be(2);
    }

    [Fact]
    public void Plan_RunningInputsAndBacklog_StartsTheMissingContainers()
    {
        var pool = Pool(Defaults with { BufferContainers = 1 });
        Busy(Container(pool, "ct-1"));

        var plan = new PoolScaler(_clock).Plan(pool);

        plan.Should().BeEquivalentTo(new ScalePlan(2, 1, []));
    }

    [Fact]
    public void Plan_IdleSurplus_StopsOnlyOnceTheWholeWindowHasPassed()
    {
        var pool = Pool(Defaults with { ScaledownWindowSeconds = 60 });
        var older = Container(pool, "ct-1");
        _clock.Advance(TimeSpan.FromSeconds(10));
        var newer = Container(pool, "ct-2");
        var scaler = new PoolScaler(_clock);

        _clock.Advance(TimeSpan.FromSeconds(49));
        scaler.Plan(pool).ToStop.Should().BeEmpty("neither has been idle for 60 s");

        _clock.Advance(TimeSpan.FromSeconds(1));
        scaler.Plan(pool).ToStop.Should().Equal([(older, "scaled down")], "only the first has been idle for the whole window");

        _clock.Advance(TimeSpan.FromSeconds(10));
        scaler.Plan(pool).ToStop.Should().Equal([(older, "scaled down"), (newer, "scaled down")], "the longest idle goes first");
    }

    [Fact]
    public void Plan_MinContainers_KeepsThemPastTheWindow()
    {
        var pool = Pool(Defaults with { MinContainers = 1, ScaledownWindowSeconds = 60 });
        var longerIdle = Container(pool, "ct-1");
        _clock.Advance(TimeSpan.FromSeconds(1));
        Container(pool, "ct-2");

        _clock.Advance(TimeSpan.FromMinutes(5));

        new PoolScaler(_clock).Plan(pool).ToStop.Should().Equal([(longerIdle, "scaled down")]);
    }

    [Fact]
    public void Plan_BusyOrStarting_NeverScaledDown()
    {
        var pool = Pool(Defaults with { ScaledownWindowSeconds = 60 });
        Busy(Container(pool, "ct-1"));
        Container(pool, "ct-2", ContainerStatus.Starting);
        Container(pool, "ct-3", ContainerStatus.Stopping);

        _clock.Advance(TimeSpan.FromMinutes(5));

        new PoolScaler(_clock).Plan(pool).Should().BeEquivalentTo(new ScalePlan(1, 0, []),
            "the starting one is surplus but not ready, and the stopping one is not counted");
    }

    [Fact]
    public void Plan_AboveMaxContainers_StopsIdleOnesAtOnce()
    {
        var pool = Pool(Defaults with { MaxContainers = 1, ScaledownWindowSeconds = 600 });
        var busy = Container(pool, "ct-1");
        Busy(busy);
        var starting = Container(pool, "ct-2", ContainerStatus.Starting);
        var idle = Container(pool, "ct-3");

        new PoolScaler(_clock).Plan(pool).ToStop.Should().Equal([(starting, "above max containers"), (idle, "above max containers")]);
    }

    [Fact]
    public void ChooseToEvict_IdleContainersOfOtherPools_LongestIdleAboveItsMinimum()
    {
        var waiting = Pool(Defaults, "waiting");
        var kept = Pool(Defaults with { MinContainers = 1 }, "kept");
        var other = Pool(Defaults, "other");
        var keptOnly = Container(kept, "ct-kept");
        _clock.Advance(TimeSpan.FromSeconds(1));
        var older = Container(other, "ct-older");
        _clock.Advance(TimeSpan.FromSeconds(1));
        var newer = Container(other, "ct-newer");
        Container(waiting, "ct-own");
        ContainerState[] all = [keptOnly, older, newer, .. waiting.Containers.Values];

        PoolScaler.ChooseToEvict(all, waiting).Should().BeSameAs(older);

        older.Evicted = true;
        older.Status = ContainerStatus.Stopping;
        PoolScaler.ChooseToEvict(all, waiting).Should().BeNull("one eviction at a time");

        older.Evicted = false;
        PoolScaler.ChooseToEvict(all, waiting).Should().BeSameAs(newer);
    }
}
