using System.Runtime.InteropServices;
using System.Text.Json;
using Ferry.Protocol;
using Ferry.Server.Api;
using Ferry.Server.Scheduling;
using Ferry.Server.Workers;

namespace Ferry.Server.Streaming;

/// <summary>
/// Carries the items of generator calls from their containers to their callers, in memory. Each call's stream holds
/// at most <see cref="ProtocolInfo.StreamWindowItems"/> items (and <see cref="ProtocolInfo.StreamWindowBytes"/> bytes
/// plus one item) that its caller has not acknowledged; the container resumes the generator only when the caller's
/// reads give credit back, so a slow caller slows the generator. A stream is released when its caller reads past its
/// end, when its call is cancelled, or <see cref="IdleGrace"/> after its call ended without its caller reading on.
/// </summary>
/// <remarks>
/// Items are not durable: a restarted control plane has none, and a call whose container is lost fails rather than
/// running again (see <see cref="CallKinds.Stream"/>). The call's outcome travels as every output does.
/// </remarks>
internal sealed class StreamRelay : IDisposable
{
    /// <summary>How long a stream whose call has ended waits for its caller to read on.</summary>
    public static readonly TimeSpan IdleGrace = TimeSpan.FromSeconds(60);

    /// <summary>How long the end of a released stream is remembered, so a retried last read still finds it.</summary>
    public static readonly TimeSpan EndMemory = TimeSpan.FromMinutes(10);

    private readonly Scheduler _scheduler;
    private readonly TimeProvider _clock;
    private readonly ITimer _sweeper;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, ItemStream> _streams = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Released> _released = new(StringComparer.Ordinal);
    private readonly Queue<string> _releasedOrder = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public StreamRelay(Scheduler scheduler, TimeProvider clock)
    {
        _scheduler = scheduler;
        _clock = clock;
        _sweeper = clock.CreateTimer(_ => Sweep(), null, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));
    }

    /// <summary>What is left of a released stream: how many items it had, and why it went.</summary>
    private sealed record Released(long Total, ReleaseReason Reason, string? Problem, DateTimeOffset At);

    private enum ReleaseReason
    {
        ReadToEnd,
        Cancelled,
        Idle,
        Broken,
    }

    private sealed class ItemStream(string callId, long inputId, int attempt)
    {
        public string CallId { get; } = callId;
        public long InputId { get; } = inputId;
        public int Attempt { get; } = attempt;
        public Queue<(JsonElement Item, int Bytes)> Buffer { get; } = new();
        public long Acknowledged { get; set; }
        public long Received { get; set; }
        public long BufferedBytes { get; set; }
        public bool Ended { get; set; }
        public string? Broken { get; set; }
        public IPeer<ContainerMessage>? Peer { get; set; }
        public DateTimeOffset Touched { get; set; }
        public TaskCompletionSource Changed { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Items a container sent. Items of an input it does not run, or of a call that is not a generator call, are dropped.</summary>
    public void OnItems(ContainerState container, IPeer<ContainerMessage> peer, StreamItems message)
    {
        if (_scheduler.StreamCallOf(container, message.InputId, message.Attempt) is not { } callId)
        {
            return;
        }
        lock (_gate)
        {
            if (!_streams.TryGetValue(callId, out var stream))
            {
                if (_released.ContainsKey(callId))
                {
                    return;
                }
                _streams[callId] = stream = new ItemStream(callId, message.InputId, message.Attempt);
            }
            stream.Peer = peer;
            stream.Touched = _clock.GetUtcNow();
            if (stream.Ended || stream.Broken is not null || stream.InputId != message.InputId || stream.Attempt != message.Attempt)
            {
                return;
            }
            foreach (var item in message.Items)
            {
                var bytes = JsonMarshal.GetRawUtf8Value(item).Length;
                if (stream.Buffer.Count >= ProtocolInfo.StreamWindowItems || stream.BufferedBytes >= ProtocolInfo.StreamWindowBytes || bytes > ProtocolInfo.MaxStreamItemBytes)
                {
                    // The container's SDK keeps to the window; one that does not has its stream failed, never buffered without bound.
                    stream.Broken = $"The container sent more than the stream's window of {ProtocolInfo.StreamWindowItems} items or {ProtocolInfo.StreamWindowBytes / (1024 * 1024)} MiB, or an item over {ProtocolInfo.MaxStreamItemBytes / (1024 * 1024)} MiB.";
                    stream.Buffer.Clear();
                    stream.BufferedBytes = 0;
                    break;
                }
                stream.Buffer.Enqueue((item, bytes));
                stream.BufferedBytes += bytes;
                stream.Received++;
            }
            stream.Ended |= message.End;
            NotifyLocked(stream);
        }
    }

    /// <summary>
    /// The items after <paramref name="after"/>, waiting up to <paramref name="wait"/> for one; acknowledges those
    /// before it, which gives their room in the window back to the container.
    /// </summary>
    public async Task<ItemBatch> ReadAsync(string callId, long after, TimeSpan wait, int limit, CancellationToken cancellationToken)
    {
        // Long-poll deadlines run on real time, as the scheduler's do.
        var deadline = TimeProvider.System.GetUtcNow() + wait;
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (_streams.TryGetValue(callId, out var stream))
                {
                    if (ReadLocked(stream, after, limit) is { } batch)
                    {
                        return batch;
                    }
                    changed = stream.Changed.Task;
                }
                else if (_released.TryGetValue(callId, out var released))
                {
                    return released.Reason switch
                    {
                        ReleaseReason.Broken => throw new ConflictException(released.Problem!),
                        // The caller learns from the call's output that it was cancelled.
                        ReleaseReason.Cancelled => new ItemBatch([], after, Ended: true),
                        _ when after >= released.Total => new ItemBatch([], after, Ended: true),
                        _ => throw new ConflictException($"The items of call '{callId}' are no longer held: its caller did not read them within {IdleGrace.TotalSeconds:0} s of the call's end."),
                    };
                }
                else
                {
                    // The generator has sent nothing yet.
                    changed = _changed.Task;
                }
            }
            var remaining = deadline - TimeProvider.System.GetUtcNow();
            if (remaining <= TimeSpan.Zero)
            {
                return new ItemBatch([], after, Ended: false);
            }
            await Task.WhenAny(changed, Task.Delay(remaining, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private ItemBatch? ReadLocked(ItemStream stream, long after, int limit)
    {
        if (stream.Broken is { } problem)
        {
            ReleaseLocked(stream, ReleaseReason.Broken);
            throw new ConflictException(problem);
        }
        if (after > stream.Received)
        {
            throw new BadRequestException($"The parameter 'after' ({after}) is past the {stream.Received} items the call has sent; pass the 'next' of the previous answer.");
        }
        if (after < stream.Acknowledged)
        {
            throw new ConflictException($"The items of call '{stream.CallId}' before {stream.Acknowledged} were acknowledged and are no longer held; read after {stream.Acknowledged} or later.");
        }
        stream.Touched = _clock.GetUtcNow();
        if (after > stream.Acknowledged)
        {
            while (stream.Acknowledged < after)
            {
                stream.BufferedBytes -= stream.Buffer.Dequeue().Bytes;
                stream.Acknowledged++;
            }
            stream.Peer?.Send(new StreamCredit(stream.InputId, stream.Acknowledged));
        }
        if (stream.Buffer.Count > 0)
        {
            // The end is told only to a read that acknowledges every item, so that read releases the stream.
            var items = stream.Buffer.Take(limit).Select(b => b.Item).ToList();
            return new ItemBatch(items, after + items.Count, Ended: false);
        }
        if (stream.Ended)
        {
            ReleaseLocked(stream, ReleaseReason.ReadToEnd);
            return new ItemBatch([], after, Ended: true);
        }
        return null;
    }

    /// <summary>Releases a cancelled call's stream at once: nobody reads it any more.</summary>
    public void OnCancelled(string callId)
    {
        lock (_gate)
        {
            if (_streams.TryGetValue(callId, out var stream))
            {
                ReleaseLocked(stream, ReleaseReason.Cancelled);
            }
        }
    }

    /// <summary>The items held for a call and whether its window is full; null if no stream is held, for tests and stats.</summary>
    internal (int Buffered, bool Full)? Inspect(string callId)
    {
        lock (_gate)
        {
            return _streams.TryGetValue(callId, out var stream)
                ? (stream.Buffer.Count, stream.Buffer.Count >= ProtocolInfo.StreamWindowItems || stream.BufferedBytes >= ProtocolInfo.StreamWindowBytes)
                : null;
        }
    }

    /// <summary>The calls whose streams are held, for tests of release.</summary>
    internal IReadOnlyList<string> HeldCalls()
    {
        lock (_gate)
        {
            return [.. _streams.Keys];
        }
    }

    /// <summary>Resolves once <paramref name="condition"/>, evaluated under the relay's lock after each change, holds.</summary>
    internal async Task WaitUntilAsync(Func<bool> condition, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (condition())
                {
                    return;
                }
                changed = _changed.Task;
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Releases streams whose calls have ended and whose callers stopped reading, and forgets old ends.</summary>
    internal void Sweep()
    {
        var now = _clock.GetUtcNow();
        List<string> idle;
        lock (_gate)
        {
            idle = [.. _streams.Values.Where(s => now - s.Touched >= IdleGrace).Select(s => s.CallId)];
        }
        // The scheduler is asked outside this lock: its lock is never taken while this one is held.
        var ended = idle.Where(id => !_scheduler.IsCallOpen(id)).ToList();
        lock (_gate)
        {
            foreach (var callId in ended)
            {
                if (_streams.TryGetValue(callId, out var stream) && now - stream.Touched >= IdleGrace)
                {
                    ReleaseLocked(stream, ReleaseReason.Idle);
                }
            }
            while (_releasedOrder.TryPeek(out var oldest) && (!_released.TryGetValue(oldest, out var gone) || now - gone.At >= EndMemory))
            {
                _releasedOrder.Dequeue();
                if (gone is not null && now - gone.At >= EndMemory)
                {
                    _released.Remove(oldest);
                }
            }
        }
    }

    private void ReleaseLocked(ItemStream stream, ReleaseReason reason)
    {
        if (!_streams.Remove(stream.CallId))
        {
            return;
        }
        stream.Buffer.Clear();
        stream.BufferedBytes = 0;
        if (_released.TryAdd(stream.CallId, new Released(stream.Received, reason, stream.Broken, _clock.GetUtcNow())))
        {
            _releasedOrder.Enqueue(stream.CallId);
        }
        NotifyLocked(stream);
    }

    private void NotifyLocked(ItemStream stream)
    {
        var changed = stream.Changed;
        stream.Changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
        var any = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        any.TrySetResult();
    }

    public void Dispose() => _sweeper.Dispose();
}
