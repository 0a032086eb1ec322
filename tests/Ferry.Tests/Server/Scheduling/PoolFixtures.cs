using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Ferry.Server.Workers;

namespace Ferry.Tests.Scheduling;

/// <summary>
/// The scheduler's in-memory state built by hand, for tests of the parts that only read and change it (scaler,
/// dispatcher): a pool of a running app, and a worker whose messages go nowhere for containers to live on.
/// </summary>
internal static class PoolFixtures
{
    /// <summary>A worker's end of the stream that accepts every message and sends it nowhere.</summary>
    internal sealed class NullPeer : IPeer<WorkerMessage>
    {
        public bool Send(WorkerMessage message) => true;

        public void Close()
        {
        }
    }

    /// <summary>A worker with 8 CPUs, 16 GiB and no GPUs that accepts every message.</summary>
    public static WorkerState Worker { get; } = new("w", "w", "process", new WorkerResources(8, 16384, [], 16), new NullPeer());

    /// <summary>The pool of the function <paramref name="name"/>, the only one of a running app, registered with it.</summary>
    public static PoolState Pool(FunctionSettings settings, string name = "f")
    {
        var function = new FunctionDefinition(name, [], "int", settings);
        var app = new AppState(new AppRecord("ap-1", "app", "bd-1", AppStates.Running, false, DateTimeOffset.UnixEpoch, null, new AppDefinition("app", [function], [])));
        var pool = new PoolState(name, app, function, settings, null);
        app.Pools[name] = pool;
        return pool;
    }
}
