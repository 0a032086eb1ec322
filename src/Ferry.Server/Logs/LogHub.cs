using Ferry.Protocol;
using Ferry.Server.Storage;
using Microsoft.Extensions.Logging;

namespace Ferry.Server.Logs;

/// <summary>
/// Container output and platform events per app: numbered, kept in memory for live readers, and written to the
/// store in batches.
/// </summary>
internal sealed partial class LogHub(ILogStore store, TimeProvider time, ILogger<LogHub> logger)
{
    private const int Retained = 10_000;
    private readonly Dictionary<string, AppLog> _apps = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    private sealed class AppLog
    {
        public long Seq;
        public readonly Queue<LogEntry> Recent = new();
        public TaskCompletionSource Changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool Stopped;
    }

    public async Task InitializeAppAsync(string appId, bool stopped, CancellationToken cancellationToken)
    {
        var seq = await store.MaxLogSeqAsync(appId, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            var log = Get(appId);
            log.Seq = Math.Max(log.Seq, seq);
            log.Stopped = stopped;
        }
    }

    private AppLog Get(string appId)
    {
        if (!_apps.TryGetValue(appId, out var log))
        {
            log = new AppLog();
            _apps[appId] = log;
        }
        return log;
    }

    public void System(string appId, string? function, string? containerId, string text) =>
        Append(appId, [(function, containerId, LogStreams.System, text, time.GetUtcNow())]);

    public void Append(string appId, IReadOnlyList<(string? Function, string? ContainerId, string Stream, string Text, DateTimeOffset Time)> lines)
    {
        var entries = new List<LogEntry>(lines.Count);
        TaskCompletionSource changed;
        lock (_gate)
        {
            var log = Get(appId);
            foreach (var line in lines)
            {
                var entry = new LogEntry(++log.Seq, line.Time, line.Stream, line.Text, line.Function, line.ContainerId);
                entries.Add(entry);
                log.Recent.Enqueue(entry);
                if (log.Recent.Count > Retained)
                {
                    log.Recent.Dequeue();
                }
            }
            changed = log.Changed;
            log.Changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
        _ = PersistAsync(appId, entries);
    }

    private async Task PersistAsync(string appId, List<LogEntry> entries)
    {
        try
        {
            await store.AppendLogsAsync(appId, entries, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LogPersistFailed(logger, appId, e);
        }
    }

    /// <summary>
    /// Lets go of what memory holds of stopped apps' logs: their recent lines for apps stopped before
    /// <paramref name="trimBefore"/> (readers then page from the store), and everything for <paramref name="forget"/>.
    /// </summary>
    public void Release(IEnumerable<string> stoppedBefore, IEnumerable<string> forget)
    {
        lock (_gate)
        {
            foreach (var appId in stoppedBefore)
            {
                if (_apps.TryGetValue(appId, out var log) && log.Stopped)
                {
                    log.Recent.Clear();
                    log.Recent.TrimExcess();
                }
            }
            foreach (var appId in forget)
            {
                _apps.Remove(appId);
            }
        }
    }

    public void MarkStopped(string appId)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            var log = Get(appId);
            log.Stopped = true;
            changed = log.Changed;
            log.Changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    public async Task<LogBatch> ReadAsync(string appId, long after, TimeSpan wait, CancellationToken cancellationToken)
    {
        // Long-poll deadlines run on real time even when tests drive the scheduler's clock by hand.
        var waitClock = TimeProvider.System;
        var deadline = waitClock.GetUtcNow() + wait;
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                var log = Get(appId);
                if (log.Seq > after && log.Recent.TryPeek(out var oldest) && oldest.Seq <= after + 1)
                {
                    var entries = log.Recent.Where(e => e.Seq > after).Take(1000).ToList();
                    return new LogBatch(entries, entries[^1].Seq, log.Stopped);
                }
                if (log.Seq <= after && (log.Stopped || wait <= TimeSpan.Zero || waitClock.GetUtcNow() >= deadline))
                {
                    return new LogBatch([], after, log.Stopped);
                }
                changed = log.Seq > after ? Task.CompletedTask : log.Changed.Task;
            }
            if (changed.IsCompleted)
            {
                var stored = await store.GetLogsAsync(appId, after, 1000, cancellationToken).ConfigureAwait(false);
                if (stored.Count > 0)
                {
                    return new LogBatch(stored, stored[^1].Seq, false);
                }
            }
            var remaining = deadline - waitClock.GetUtcNow();
            if (remaining <= TimeSpan.Zero)
            {
                continue;
            }
            try
            {
                await changed.WaitAsync(remaining, waitClock, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not store logs of app {AppId}")]
    private static partial void LogPersistFailed(ILogger logger, string appId, Exception exception);
}
