using Ferry.Server.Storage;
using Microsoft.Extensions.Logging;

namespace Ferry.Server.Objects;

/// <summary>
/// Deletes expired Dict entries and queue partitions at start and every <see cref="ServerOptions.RetentionSweepInterval"/>.
/// Reads never depend on it: every read leaves out what has expired on the server's clock.
/// </summary>
internal sealed partial class ObjectSweeper(IObjectStore store, TimeProvider clock, ServerOptions options, ILogger<ObjectSweeper> logger) : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;

    public void Start() => _loop = Task.Run(LoopAsync);

    private async Task LoopAsync()
    {
        using var timer = new PeriodicTimer(options.RetentionSweepInterval, clock);
        do
        {
            try
            {
                await SweepAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogSweepFailed(logger, e);
            }
        }
        while (await NextAsync(timer).ConfigureAwait(false));
    }

    private async Task<bool> NextAsync(PeriodicTimer timer)
    {
        try
        {
            return await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>One pass; returns how many entries and partitions went.</summary>
    public Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        return store.SweepObjectsAsync(now - options.Objects.DictEntryTtl, now, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Sweeping expired dict entries and queue partitions failed.")]
    private static partial void LogSweepFailed(ILogger logger, Exception error);
}
