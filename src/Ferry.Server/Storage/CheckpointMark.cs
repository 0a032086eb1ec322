namespace Ferry.Server.Storage;

/// <summary>
/// When SQLite's writer asks for a checkpoint of the write-ahead log: once the log has grown by <paramref name="bytes"/>
/// since it last asked. The log is truncated when it starts over after a complete checkpoint, so its length is its
/// size; but it starts over only at a commit that follows a checkpoint that caught up with it, which a steady stream
/// of commits often outruns. Judged by its length alone, a log past the mark asked at every commit after that: during
/// warm calls, 64 checkpoints a second, each syncing both files. Not thread-safe: only the writer uses it.
/// </summary>
internal sealed class CheckpointMark(long bytes)
{
    private long _lengthAsked;

    /// <summary>
    /// Whether a log of <paramref name="logLength"/> bytes is twice the checkpoint size: copying what the last checkpoint
    /// left should not wait any longer for the writer to be idle.
    /// </summary>
    public bool Overdue(long logLength) => logLength >= 2 * bytes;

    /// <summary>Whether the log, now <paramref name="logLength"/> bytes long, calls for a checkpoint; if so, it counts as asked.</summary>
    public bool Reached(long logLength)
    {
        if (logLength < _lengthAsked)
        {
            // The log started over.
            _lengthAsked = 0;
        }
        if (logLength - _lengthAsked < bytes)
        {
            return false;
        }
        _lengthAsked = logLength;
        return true;
    }
}
