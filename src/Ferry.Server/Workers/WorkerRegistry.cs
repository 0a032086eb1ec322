using Ferry.Protocol;

namespace Ferry.Server.Workers;

/// <summary>
/// The connected workers, the identity each join token is bound to, and where a new container goes. Not thread-safe:
/// the scheduler calls it under its lock.
/// </summary>
internal sealed class WorkerRegistry
{
    private readonly Dictionary<string, WorkerState> _workers = new(StringComparer.Ordinal);
    // Worker id -> the join token it first registered with, for this server's lifetime.
    private readonly Dictionary<string, string> _identities = new(StringComparer.Ordinal);
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Count => _workers.Count;

    /// <summary>The whole cores of every connected worker, each worker's rounded up.</summary>
    public int Cores => _workers.Values.Sum(w => (int)Math.Ceiling(w.Resources.Cpu - 1e-9));

    /// <summary>Completes when a worker registers next.</summary>
    public Task Changed => _changed.Task;

    /// <summary>
    /// Registers a worker under the identity its join token holds: the first worker id a token registers is bound to
    /// it, and a worker id is served by one connection at a time. Returns null and why for a connection that claims a
    /// worker id that is connected already or bound to another token.
    /// </summary>
    public (WorkerState? Worker, string? Refusal) Register(WorkerHello hello, string credentialId, IPeer<WorkerMessage> peer)
    {
        var boundId = _identities.FirstOrDefault(p => p.Value == credentialId).Key;
        string? refusal = null;
        if (_workers.ContainsKey(hello.WorkerId))
        {
            refusal = "a worker with this id is connected already";
        }
        else if (_identities.TryGetValue(hello.WorkerId, out var owner) && owner != credentialId)
        {
            refusal = "this worker id belongs to another join token";
        }
        else if (boundId is not null && boundId != hello.WorkerId)
        {
            refusal = $"this join token belongs to the worker '{boundId}'";
        }
        if (refusal is not null)
        {
            return (null, refusal);
        }
        _identities[hello.WorkerId] = credentialId;
        var worker = new WorkerState(hello.WorkerId, hello.Name, hello.Runtime, hello.Resources, peer);
        _workers[worker.WorkerId] = worker;
        var signal = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        signal.TrySetResult();
        return (worker, null);
    }

    /// <summary>Forgets a worker's connection; false if it was replaced already or is unknown.</summary>
    public bool Unregister(WorkerState worker)
    {
        if (_workers.TryGetValue(worker.WorkerId, out var current) && ReferenceEquals(current, worker))
        {
            _workers.Remove(worker.WorkerId);
            return true;
        }
        return false;
    }

    /// <summary>Reserves room for a container with <paramref name="settings"/> on the least-loaded worker that has it.</summary>
    public (WorkerState Worker, Reservation Reservation)? TryReserve(FunctionSettings settings) =>
        Reserve(Placement.TryPlace(_workers.Values, settings));

    /// <summary>As <see cref="TryReserve"/>, preferring runc workers: a shell wants a real container.</summary>
    public (WorkerState Worker, Reservation Reservation)? TryReserveForShell(FunctionSettings settings) =>
        Reserve(Placement.TryPlace(_workers.Values.OrderByDescending(w => w.Runtime == "runc"), settings));

    /// <summary>Why no worker could ever take a container with these settings; null when some could, once it has room.</summary>
    public string? WhyNot(FunctionSettings settings) => Placement.WhyNot(_workers.Values, settings);

    public static void Release(WorkerState worker, Reservation reservation) => Placement.Release(worker, reservation);

    private static (WorkerState Worker, Reservation Reservation)? Reserve((WorkerState Worker, Reservation Reservation)? placed)
    {
        if (placed is { } place)
        {
            Placement.Reserve(place.Worker, place.Reservation);
        }
        return placed;
    }
}
