using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Gateway;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Ferry.Server.Workers;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Server.Gateway;

/// <summary>Slots a standalone gateway leases free when it releases them, or when their lease lapses unrenewed.</summary>
public sealed class GatewayLeasesTests : IDisposable
{
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly List<ContainerState> _freed = [];
    private readonly GatewayLeases _leases;
    private readonly ContainerState _container;

    public GatewayLeasesTests()
    {
        _leases = new GatewayLeases(c => _freed.Add(c), Duration, _clock);
        var function = new FunctionDefinition("web", [], "None", new FunctionSettings());
        var app = new AppState(new AppRecord("ap-1", "app", "bd-1", AppStates.Running, false, DateTimeOffset.UnixEpoch, null, new AppDefinition("app", [function], [])));
        var pool = new PoolState("web", app, function, function.Settings, null);
        var worker = new WorkerState("w", "w", "process", new WorkerResources(8, 16384, [], 16), new NullPeer());
        _container = new ContainerState("ct-1", "secret", pool, worker, new Reservation(0, 0, []), _clock.GetUtcNow());
    }

    public void Dispose() => _leases.Dispose();

    [Fact]
    public void Sweep_LeaseNeverRenewed_FreesTheSlotOnceItLapses()
    {
        _leases.Grant(_container, "gw-a");

        _clock.Advance(Duration - TimeSpan.FromSeconds(1));
        _freed.Should().BeEmpty("the lease has a second left");

        _clock.Advance(TimeSpan.FromSeconds(2));
        _freed.Should().Equal([_container], "the sweep's timer freed the lapsed slot");
        _leases.Count.Should().Be(0);
    }

    [Fact]
    public void Renew_BeforeTheLeaseLapses_KeepsTheSlotForAnotherDuration()
    {
        var lease = _leases.Grant(_container, "gw-a");

        _clock.Advance(TimeSpan.FromSeconds(8));
        _leases.Renew(lease, "gw-a").Should().BeTrue();
        _clock.Advance(TimeSpan.FromSeconds(8));

        _freed.Should().BeEmpty();
        _clock.Advance(TimeSpan.FromSeconds(3));
        _freed.Should().HaveCount(1);
        _leases.Renew(lease, "gw-a").Should().BeFalse("a lapsed lease cannot be renewed: its slot may be someone else's now");
    }

    [Fact]
    public void Release_ByItsGateway_FreesAtOnceAndOnlyOnce()
    {
        var lease = _leases.Grant(_container, "gw-a");

        _leases.Release(lease, "gw-b");
        _leases.Renew(lease, "gw-b").Should().BeFalse("another gateway's lease is not this one's to renew");
        _freed.Should().BeEmpty("another gateway cannot release it");

        _leases.Release(lease, "gw-a");
        _leases.Release(lease, "gw-a");
        _clock.Advance(Duration * 2);

        _freed.Should().Equal([_container], "released once, and the sweep finds nothing left");
    }

    [Fact]
    public void Constructor_NonPositiveDuration_NamesTheSetting()
    {
        var create = () => new GatewayLeases(_ => { }, TimeSpan.Zero, _clock);

        create.Should().Throw<ArgumentException>().WithMessage("*GatewayLeaseDuration must be positive*");
    }

    private sealed class NullPeer : IPeer<WorkerMessage>
    {
        public bool Send(WorkerMessage message) => true;

        public void Close()
        {
        }
    }
}
