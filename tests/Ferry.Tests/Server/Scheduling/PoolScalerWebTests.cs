using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Ferry.Server.Workers;
using Microsoft.Extensions.Time.Testing;
using static Ferry.Tests.Scheduling.PoolFixtures;

namespace Ferry.Tests.Scheduling;

/// <summary>Requests at the gateway are load for the autoscaler, as inputs are.</summary>
public sealed class PoolScalerWebTests
{
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private ContainerState Container(PoolState pool, string id, int inFlight)
    {
        var container = new ContainerState(id, "secret", pool, PoolFixtures.Worker, new Reservation(0, 0, []), _clock.GetUtcNow())
        {
            Status = ContainerStatus.Ready,
            MaxInputs = pool.Settings.MaxInputs,
            WebInFlight = inFlight,
        };
        pool.Containers[id] = container;
        return container;
    }

    [Fact]
    public void Plan_WaitingRequests_StartOneContainerPerMaxInputs()
    {
        var pool = Pool(new FunctionSettings { MaxInputs = 8 }, "web");
        pool.WebWaiting = 200;

        var plan = new PoolScaler(_clock).Plan(pool);

        plan.Desired.Should().Be(25);
        plan.ToStart.Should().Be(25);
    }

    [Fact]
    public void Plan_RequestsInFlight_CountAsRunningLoad()
    {
        var pool = Pool(new FunctionSettings { MaxInputs = 4 }, "web");
        Container(pool, "c1", inFlight: 4);
        Container(pool, "c2", inFlight: 3);
        pool.WebWaiting = 2;

        var plan = new PoolScaler(_clock).Plan(pool);

        plan.Desired.Should().Be(3, "4 + 3 in flight and 2 waiting need ceil(9 / 4) containers");
        plan.ToStart.Should().Be(1);
    }

    [Fact]
    public void Plan_ContainerWithARequestInFlight_IsNotScaledDown()
    {
        var pool = Pool(new FunctionSettings { MaxInputs = 1, ScaledownWindowSeconds = 1 }, "web");
        var busy = Container(pool, "busy", inFlight: 1);
        var idle = Container(pool, "idle", inFlight: 0);
        busy.IdleSince = idle.IdleSince = _clock.GetUtcNow();
        _clock.Advance(TimeSpan.FromSeconds(5));

        var plan = new PoolScaler(_clock).Plan(pool);

        plan.Desired.Should().Be(1);
        plan.ToStop.Select(s => s.Container.Id).Should().Equal("idle");
    }
}
