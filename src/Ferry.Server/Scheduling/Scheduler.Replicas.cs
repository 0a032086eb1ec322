using Ferry.Protocol;
using Ferry.Server.Storage;
using Microsoft.Extensions.Logging;

namespace Ferry.Server.Scheduling;

/// <summary>
/// How a replica among several takes an app on and gives it up. A replica holds in memory only the apps whose lease
/// it holds (see <see cref="Replicas.ReplicaCoordinator"/>); the rest live in the store until their lease comes its way.
/// </summary>
internal sealed partial class Scheduler
{
    /// <summary>Takes the lease of an app created here, before it is held in memory; null on a single server.</summary>
    public Func<string, CancellationToken, Task<LeaseFence?>>? ClaimNewApp { get; set; }

    /// <summary>The newest app held here with that name, not released; null if none.</summary>
    public string? TryResolveHeldApp(string name)
    {
        lock (_gate)
        {
            return _apps.Values.Where(a => a.Record.Name == name && !a.Released).OrderByDescending(a => a.Record.CreatedAt).FirstOrDefault()?.AppId;
        }
    }

    /// <summary>Whether the app is held here and not released.</summary>
    public bool HoldsApp(string appId)
    {
        lock (_gate)
        {
            return _apps.TryGetValue(appId, out var app) && !app.Released;
        }
    }

    /// <summary>
    /// Takes an app on after winning its lease: its record, and every unfinished input of its calls from the store, to
    /// be dispatched here. Inputs another replica had handed to containers run again; the store keeps the first
    /// outcome of each, so every result counts once.
    /// </summary>
    public async Task AdoptAppAsync(AppRecord record, LeaseFence fence, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_apps.TryGetValue(record.AppId, out var held) && !held.Released)
            {
                return;
            }
            // What memory held of an app given up earlier is stale: the store is the truth now.
            _apps.Remove(record.AppId);
            foreach (var stale in _calls.Values.Where(c => c.Record.AppId == record.AppId).ToList())
            {
                _calls.Forget(stale);
            }
            _apps.Add(new AppState(record) { Fence = fence });
        }
        await logs.InitializeAppAsync(record.AppId, record.State == AppStates.Stopped, cancellationToken).ConfigureAwait(false);
        var pending = await callStore.LoadPendingInputsAsync(cancellationToken).ConfigureAwait(false);
        await QueuePendingAsync([.. pending.Where(p => p.Call.AppId == record.AppId)], cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            if (_apps.TryGetValue(record.AppId, out var app))
            {
                var now = clock.GetUtcNow();
                foreach (var pool in app.Pools.Values)
                {
                    pool.LastActive = now;
                    ScaleLocked(pool, now);
                    DispatchLocked(pool);
                }
                PulseLocked();
            }
        }
        LogAdopted(logger, record.AppId);
    }

    /// <summary>
    /// Gives an app up after losing its lease: nothing of it is dispatched or started here any more, and its
    /// containers are stopped. Their inputs are left to the new owner, which reloads them from the store.
    /// </summary>
    public void ReleaseApp(string appId)
    {
        lock (_gate)
        {
            if (!_apps.TryGetValue(appId, out var app) || app.Released)
            {
                return;
            }
            app.Released = true;
            foreach (var container in app.Pools.Values.SelectMany(p => p.Containers.Values).ToList())
            {
                StopContainerLocked(container, "this server no longer owns the app");
            }
            foreach (var pool in app.Pools.Values)
            {
                pool.Ready.Clear();
                pool.Delayed.Clear();
                pool.Stored.Clear();
            }
        }
        LogReleased(logger, appId);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Took app {AppId} on: its lease is ours.")]
    private static partial void LogAdopted(ILogger logger, string appId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gave app {AppId} up: its lease is lost.")]
    private static partial void LogReleased(ILogger logger, string appId);
}
