using Ferry.Protocol;

namespace Ferry.Hosting;

/// <summary>
/// The items of one generator input that are in flight: sent and not yet acknowledged by the caller. The generator is
/// resumed only while fewer than <see cref="ProtocolInfo.StreamWindowItems"/> items and
/// <see cref="ProtocolInfo.StreamWindowBytes"/> bytes are in flight.
/// </summary>
internal sealed class ItemWindow
{
    private readonly Lock _gate = new();
    private readonly Queue<int> _inFlight = new();
    private long _bytes;
    private long _acknowledged;
    private TaskCompletionSource? _room;

    /// <summary>Waits until another item may be produced.</summary>
    public async Task WaitForRoomAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task room;
            lock (_gate)
            {
                if (HasRoomLocked())
                {
                    return;
                }
                _room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                room = _room.Task;
            }
            await room.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public bool HasRoom
    {
        get
        {
            lock (_gate)
            {
                return HasRoomLocked();
            }
        }
    }

    /// <summary>Counts an item of <paramref name="bytes"/> as in flight.</summary>
    public void Sent(int bytes)
    {
        lock (_gate)
        {
            _inFlight.Enqueue(bytes);
            _bytes += bytes;
        }
    }

    /// <summary>The caller has acknowledged the first <paramref name="acknowledged"/> items.</summary>
    public void Acknowledge(long acknowledged)
    {
        TaskCompletionSource? room;
        lock (_gate)
        {
            while (_acknowledged < acknowledged && _inFlight.TryDequeue(out var bytes))
            {
                _bytes -= bytes;
                _acknowledged++;
            }
            room = HasRoomLocked() ? _room : null;
            if (room is not null)
            {
                _room = null;
            }
        }
        room?.TrySetResult();
    }

    private bool HasRoomLocked() => _inFlight.Count < ProtocolInfo.StreamWindowItems && _bytes < ProtocolInfo.StreamWindowBytes;
}
