namespace Ferry.Server.Scheduling;

/// <summary>
/// The calls held in memory, and when they leave it: a call read to its end leaves at once, a finished call nobody
/// reads leaves after <see cref="SchedulerOptions.FinishedCallGrace"/>, and the ids of calls that left are remembered
/// for <see cref="SchedulerOptions.EvictedCallMemory"/> so a retried creation is answered idempotently. Not
/// thread-safe: the scheduler calls it under its lock.
/// </summary>
internal sealed class CallTable(SchedulerOptions options)
{
    private readonly Dictionary<string, CallState> _calls = new(StringComparer.Ordinal);
    // Finished calls in the order they finished, to leave memory after the grace period.
    private readonly Queue<CallState> _finished = new();
    // Calls that left memory, by id, in the order they left, for idempotent retries of their creation.
    private readonly Dictionary<string, DateTimeOffset> _evicted = new(StringComparer.Ordinal);
    private readonly Queue<(string CallId, DateTimeOffset At)> _evictedOrder = new();
    // Outputs let go of since the heap was last compacted; read without the lock by the scheduler's tick loop.
    private long _releasedOutputs;

    public IEnumerable<CallState> Values => _calls.Values;

    /// <summary>Outputs released from memory since <see cref="ResetReleasedOutputs"/>; safe to read without the lock.</summary>
    public long ReleasedOutputs => Interlocked.Read(ref _releasedOutputs);

    public void ResetReleasedOutputs() => Interlocked.Exchange(ref _releasedOutputs, 0);

    public bool TryGetValue(string callId, out CallState call) => _calls.TryGetValue(callId, out call!);

    public bool ContainsKey(string callId) => _calls.ContainsKey(callId);

    /// <summary>Whether the call finished and left memory recently enough to be remembered.</summary>
    public bool WasEvicted(string callId) => _evicted.ContainsKey(callId);

    /// <summary>Holds a call in memory, created or loaded from the store.</summary>
    public void Add(CallState call)
    {
        _calls[call.CallId] = call;
        _evicted.Remove(call.CallId);
    }

    /// <summary>Starts a done call's grace period, once.</summary>
    public void MarkIfDone(CallState call, DateTimeOffset now)
    {
        if (call.IsDone && call.DoneAt is null)
        {
            call.DoneAt = now;
            _finished.Enqueue(call);
        }
    }

    /// <summary>
    /// Lets the oldest half of a call's in-memory outputs go once it holds more than
    /// <see cref="SchedulerOptions.OutputWindow"/>: a reader behind them reads them from the store, where they were
    /// committed before they were published. A spawn nobody reads yet, or a long map, so keeps a bounded number of
    /// outputs alive, rather than all of them until the call ends.
    /// </summary>
    public void TrimOutputs(CallState call)
    {
        if (call.Outputs.Count <= options.OutputWindow)
        {
            return;
        }
        var drop = call.Outputs.Count - options.OutputWindow / 2;
        for (var i = 0; i < drop; i++)
        {
            call.FailedBefore += call.Outputs[i].Success ? 0 : 1;
        }
        call.Outputs.RemoveRange(0, drop);
        call.OutputsBefore += drop;
        _releasedOutputs += drop;
    }

    /// <summary>
    /// Lets a call leave memory; later reads come from the store. A call whose output was published before its write
    /// committed (<see cref="CallState.Unsaved"/>) leaves once it has (<see cref="Saved"/>): a read from the store
    /// before then would find its input unfinished and run it again.
    /// </summary>
    public void Evict(CallState call, DateTimeOffset now)
    {
        if (call.Unsaved)
        {
            call.EvictWhenSaved = true;
            return;
        }
        if (_calls.Remove(call.CallId))
        {
            _releasedOutputs += call.Outputs.Count;
            _evicted[call.CallId] = now;
            _evictedOrder.Enqueue((call.CallId, now));
        }
    }

    /// <summary>The write of a call's output published early has ended; an eviction waiting for it happens now.</summary>
    public void Saved(CallState call, DateTimeOffset now)
    {
        call.Unsaved = false;
        if (call.EvictWhenSaved)
        {
            call.EvictWhenSaved = false;
            Evict(call, now);
        }
    }

    /// <summary>Drops a call from memory without remembering it, as when its app moves to another replica.</summary>
    public void Forget(CallState call)
    {
        _calls.Remove(call.CallId);
        _evicted.Remove(call.CallId);
    }

    /// <summary>Lets finished calls past their grace period leave memory, and forgets evictions past their memory.</summary>
    public void Sweep(DateTimeOffset now)
    {
        while (_finished.TryPeek(out var call) && now - call.DoneAt >= options.FinishedCallGrace)
        {
            _finished.Dequeue();
            Evict(call, now);
        }
        while (_evictedOrder.TryPeek(out var gone) && now - gone.At >= options.EvictedCallMemory)
        {
            _evictedOrder.Dequeue();
            if (_evicted.TryGetValue(gone.CallId, out var at) && at == gone.At)
            {
                _evicted.Remove(gone.CallId);
            }
        }
    }
}
