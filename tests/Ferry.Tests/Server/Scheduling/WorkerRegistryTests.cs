using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Workers;
using static Ferry.Tests.Scheduling.PoolFixtures;

namespace Ferry.Tests.Scheduling;

public sealed class WorkerRegistryTests
{
    [Fact]
    public void Cores_ConnectedWorkers_AddsEachWorkersWholeCores()
    {
        var registry = new WorkerRegistry();
        registry.Cores.Should().Be(0);
        registry.Register(Hello("w1", cpu: 4), "tk-1", new NullPeer());
        var (second, _) = registry.Register(new WorkerHello("w2", "w2", "process", new WorkerResources(1.5, 8192, [], 4), []), "tk-2", new NullPeer());

        registry.Cores.Should().Be(6, "a worker's part of a core counts as a core");

        registry.Unregister(second!);
        registry.Cores.Should().Be(4);
    }

    private static WorkerHello Hello(string workerId, string runtime = "process", int cpu = 4) =>
        new(workerId, workerId, runtime, new WorkerResources(cpu, 8192, [], 4), []);

    [Fact]
    public void Register_SameIdWhileConnected_IsRefused()
    {
        var registry = new WorkerRegistry();
        registry.Register(Hello("w1"), "tk-1", new NullPeer()).Worker.Should().NotBeNull();

        registry.Register(Hello("w1"), "tk-1", new NullPeer()).Should().Be(((WorkerState?)null, "a worker with this id is connected already"));
    }

    [Fact]
    public void Register_IdBoundToAnotherToken_IsRefusedEvenAfterItLeft()
    {
        var registry = new WorkerRegistry();
        var (first, _) = registry.Register(Hello("w1"), "tk-1", new NullPeer());
        registry.Unregister(first!).Should().BeTrue();

        registry.Register(Hello("w1"), "tk-2", new NullPeer()).Should().Be(((WorkerState?)null, "this worker id belongs to another join token"));
        registry.Register(Hello("w2"), "tk-1", new NullPeer()).Should().Be(((WorkerState?)null, "this join token belongs to the worker 'w1'"));
        registry.Register(Hello("w1"), "tk-1", new NullPeer()).Worker.Should().NotBeNull("a worker may reconnect under its own token");
    }

    [Fact]
    public void Unregister_ReplacedConnection_KeepsTheNewOne()
    {
        var registry = new WorkerRegistry();
        var (old, _) = registry.Register(Hello("w1"), "tk-1", new NullPeer());
        registry.Unregister(old!);
        registry.Register(Hello("w1"), "tk-1", new NullPeer());

        registry.Unregister(old!).Should().BeFalse();
        registry.Count.Should().Be(1);
    }

    [Fact]
    public void Register_Signals_ChangedCompletes()
    {
        var registry = new WorkerRegistry();
        var changed = registry.Changed;
        changed.IsCompleted.Should().BeFalse();

        registry.Register(Hello("w1"), "tk-1", new NullPeer());

        changed.IsCompleted.Should().BeTrue();
        registry.Changed.IsCompleted.Should().BeFalse();
    }

    [Fact]
    public void TryReserve_RoomAndRelease_ReservesOnTheWorker()
    {
        var registry = new WorkerRegistry();
        var (worker, _) = registry.Register(Hello("w1", cpu: 2), "tk-1", new NullPeer());
        var settings = new FunctionSettings { Cpu = 1.5 };

        var placed = registry.TryReserve(settings);

        placed.Should().NotBeNull();
        worker!.CpuReserved.Should().Be(1.5);
        registry.TryReserve(settings).Should().BeNull("only 0.5 cores are left");
        WorkerRegistry.Release(worker, placed!.Value.Reservation);
        registry.TryReserve(settings)!.Value.Worker.Should().BeSameAs(worker);
    }

    [Fact]
    public void TryReserveForShell_BothRuntimes_PrefersRunc()
    {
        var registry = new WorkerRegistry();
        registry.Register(Hello("p", "process"), "tk-p", new NullPeer());
        var (runc, _) = registry.Register(Hello("r", "runc"), "tk-r", new NullPeer());

        registry.TryReserveForShell(new FunctionSettings())!.Value.Worker.Should().BeSameAs(runc);
    }

    [Fact]
    public void WhyNot_NoWorkers_SaysSo() =>
        new WorkerRegistry().WhyNot(new FunctionSettings()).Should().Be("no worker is connected");
}
