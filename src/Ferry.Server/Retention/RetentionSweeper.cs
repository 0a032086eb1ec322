using Ferry.Server.Logs;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Microsoft.Extensions.Logging;

namespace Ferry.Server.Retention;

/// <summary>
/// Keeps the store and memory proportional to what is retained: at start and then every
/// <see cref="ServerOptions.RetentionSweepInterval"/>, deletes calls, logs and stopped apps older than
/// <see cref="ServerOptions.Retention"/>, and lets go of the in-memory logs of apps stopped a while ago.
/// </summary>
internal sealed partial class RetentionSweeper(IRetentionStore store, Scheduler scheduler, LogHub logs, TimeProvider clock, ServerOptions options, ILogger<RetentionSweeper> logger)
    : IAsyncDisposable
{
    /// <summary>How long a stopped app's recent log lines stay in memory for a late reader.</summary>
    private static readonly TimeSpan StoppedLogsInMemory = TimeSpan.FromMinutes(10);

    private PeriodicPass? _loop;

    public void Start()
    {
        _loop = new PeriodicPass(options.RetentionSweepInterval, clock, SweepAsync, e => LogSweepFailed(logger, e));
        _loop.Start(passNow: true);
    }

    /// <summary>One pass: what expired leaves the store, then memory.</summary>
    public async Task SweepAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var cutoff = now - options.Retention;
        var (calls, apps) = (0, 0);
        while (true)
        {
            var (deletedCalls, deletedApps) = await store.DeleteExpiredAsync(cutoff, cancellationToken).ConfigureAwait(false);
            calls += deletedCalls;
            apps += deletedApps;
            if (deletedCalls == 0)
            {
                break;
            }
        }
        var (idle, forgotten) = scheduler.ReleaseStoppedApps(now - StoppedLogsInMemory, cutoff);
        logs.Release(idle, forgotten);
        if (calls + apps > 0)
        {
            LogSwept(logger, calls, apps, options.Retention.TotalDays);
        }
    }

    /// <summary>The server stops it before the store closes; the service container disposes it again afterwards.</summary>
    public ValueTask DisposeAsync() => _loop?.DisposeAsync() ?? ValueTask.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention: deleted {Calls} calls and {Apps} stopped apps older than {Days} days.")]
    private static partial void LogSwept(ILogger logger, int calls, int apps, double days);

    [LoggerMessage(Level = LogLevel.Error, Message = "The retention sweep failed; it runs again at the next interval.")]
    private static partial void LogSweepFailed(ILogger logger, Exception error);
}
