using Ferry.Server.Storage;
using Microsoft.Extensions.Logging;

namespace Ferry.Server.Objects;

/// <summary>
/// Deletes expired Dict entries and queue partitions at start and every <see cref="ServerOptions.RetentionSweepInterval"/>.
/// Reads never depend on it: every read leaves out what has expired on the server's clock.
/// </summary>
internal sealed partial class ObjectSweeper(IObjectStore store, TimeProvider clock, ServerOptions options, ILogger<ObjectSweeper> logger) : IAsyncDisposable
{
    private PeriodicPass? _loop;

    public void Start()
    {
        _loop = new PeriodicPass(options.RetentionSweepInterval, clock, SweepAsync, e => LogSweepFailed(logger, e));
        _loop.Start(passNow: true);
    }

    /// <summary>One pass; returns how many entries and partitions went.</summary>
    public Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        return store.SweepObjectsAsync(now - options.Objects.DictEntryTtl, now, cancellationToken);
    }

    public ValueTask DisposeAsync() => _loop?.DisposeAsync() ?? ValueTask.CompletedTask;

    [LoggerMessage(Level = LogLevel.Error, Message = "Sweeping expired dict entries and queue partitions failed.")]
    private static partial void LogSweepFailed(ILogger logger, Exception error);
}
