using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Microsoft.Extensions.Logging;

namespace Ferry.Server.Replicas;

/// <summary>Where a request for an app is served.</summary>
internal readonly record struct AppOwner(bool Local, Uri? Url)
{
    public static AppOwner Here { get; } = new(true, null);

    public static AppOwner Nobody { get; } = new(false, null);
}

/// <summary>
/// Makes this server one replica among several on one database: it registers the replica, takes and renews the leases
/// of the apps it serves, takes over the apps whose owner stopped renewing, and tells the API where an app is served.
/// </summary>
/// <remarks>
/// The unit of ownership is the app: its pools share the app's definition, call table, output order and log, which
/// the scheduler keeps in memory, so an app moves between replicas whole. A lease lasts
/// <see cref="ReplicaOptions.LeaseDuration"/> and is renewed every third of it; a replica that cannot renew gives the
/// app up when its own view of the lease expires, so two replicas never dispatch one app past the clock skew between
/// them. After an owner dies its apps wait at most one lease duration plus one renewal interval for a new owner.
/// </remarks>
internal sealed partial class ReplicaCoordinator(ILeaseStore leases, IAppStore apps, Scheduler scheduler, ReplicaOptions options, TimeProvider clock, ILogger<ReplicaCoordinator> logger) : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, PoolLease> _owned = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _claiming = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;
    private Uri? _url;
    private int _disposed;

    /// <summary>This replica's id in the registry and on its leases.</summary>
    public string ReplicaId { get; } = Ids.New("rp");

    /// <summary>Registers the replica at <paramref name="url"/>, takes the apps nobody holds, and starts renewing.</summary>
    public async Task StartAsync(Uri url, CancellationToken cancellationToken)
    {
        _url = options.AdvertisedUrl ?? url;
        await leases.HeartbeatReplicaAsync(new ReplicaRecord(ReplicaId, _url.AbsoluteUri, clock.GetUtcNow()), cancellationToken).ConfigureAwait(false);
        await RoundAsync(cancellationToken).ConfigureAwait(false);
        _loop = Task.Run(LoopAsync, CancellationToken.None);
        LogStarted(logger, ReplicaId, _url);
    }

    /// <summary>Whether this replica holds the app's lease, by its own clock.</summary>
    public bool Owns(string appId)
    {
        lock (_gate)
        {
            return _owned.TryGetValue(appId, out var lease) && lease.ExpiresAt > clock.GetUtcNow();
        }
    }

    /// <summary>Takes the lease of an app this replica just created.</summary>
    public async Task<LeaseFence?> ClaimNewAppAsync(string appId, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var lease = await leases.TryAcquireLeaseAsync(appId, ReplicaId, now, now + options.LeaseDuration, cancellationToken).ConfigureAwait(false);
        if (lease.ReplicaId != ReplicaId)
        {
            return null;
        }
        lock (_gate)
        {
            _owned[appId] = lease;
        }
        return new LeaseFence(appId, ReplicaId, lease.Epoch);
    }

    /// <summary>
    /// Where the app is served: here (taking its lease, and the app, if nobody holds it), at another replica's URL,
    /// or nowhere yet (its owner is gone but its lease has not expired).
    /// </summary>
    public async Task<AppOwner> ResolveAsync(string appId, CancellationToken cancellationToken)
    {
        if (Owns(appId) && scheduler.HoldsApp(appId))
        {
            return AppOwner.Here;
        }
        var now = clock.GetUtcNow();
        var lease = await leases.GetLeaseAsync(appId, cancellationToken).ConfigureAwait(false);
        if (lease is null || lease.ExpiresAt <= now || lease.ReplicaId == ReplicaId)
        {
            return await TryTakeAsync(appId, cancellationToken).ConfigureAwait(false) ? AppOwner.Here : AppOwner.Nobody;
        }
        var live = await leases.ListReplicasAsync(now - (3 * options.LeaseDuration), cancellationToken).ConfigureAwait(false);
        return live.FirstOrDefault(r => r.ReplicaId == lease.ReplicaId) is { } owner ? new AppOwner(false, new Uri(owner.Url)) : AppOwner.Nobody;
    }

    /// <summary>Takes the app's lease if it is free or expired, and the app with it. False if another replica holds it.</summary>
    private async Task<bool> TryTakeAsync(string appId, CancellationToken cancellationToken)
    {
        await _claiming.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Owns(appId) && scheduler.HoldsApp(appId))
            {
                return true;
            }
            var record = (await apps.ListAppsAsync(cancellationToken).ConfigureAwait(false)).FirstOrDefault(a => a.AppId == appId);
            if (record is null)
            {
                return false;
            }
            var now = clock.GetUtcNow();
            var lease = await leases.TryAcquireLeaseAsync(appId, ReplicaId, now, now + options.LeaseDuration, cancellationToken).ConfigureAwait(false);
            if (lease.ReplicaId != ReplicaId)
            {
                return false;
            }
            lock (_gate)
            {
                _owned[appId] = lease;
            }
            await scheduler.AdoptAppAsync(record, new LeaseFence(appId, ReplicaId, lease.Epoch), cancellationToken).ConfigureAwait(false);
            return true;
        }
        finally
        {
            _claiming.Release();
        }
    }

    private async Task LoopAsync()
    {
        var interval = options.LeaseDuration / 3;
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, clock, _stopping.Token).ConfigureAwait(false);
                await RoundAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // The store may be unreachable for a while: leases not renewed lapse below, by the local clock.
                LogRoundFailed(logger, e);
            }
            ReleaseLapsed();
        }
    }

    /// <summary>One round: say this replica is alive, renew what it holds, and take apps whose lease lapsed.</summary>
    private async Task RoundAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        await leases.HeartbeatReplicaAsync(new ReplicaRecord(ReplicaId, _url!.AbsoluteUri, now), cancellationToken).ConfigureAwait(false);
        List<PoolLease> held;
        lock (_gate)
        {
            held = [.. _owned.Values];
        }
        foreach (var lease in held)
        {
            var expires = now + options.LeaseDuration;
            if (await leases.RenewLeaseAsync(lease.PoolId, ReplicaId, lease.Epoch, expires, cancellationToken).ConfigureAwait(false))
            {
                lock (_gate)
                {
                    _owned[lease.PoolId] = lease with { ExpiresAt = expires };
                }
            }
            else
            {
                Lose(lease.PoolId);
            }
        }
        foreach (var app in await apps.ListAppsAsync(cancellationToken).ConfigureAwait(false))
        {
            if (app.State == AppStates.Stopped || Owns(app.AppId))
            {
                continue;
            }
            var current = await leases.GetLeaseAsync(app.AppId, cancellationToken).ConfigureAwait(false);
            if (current is null || current.ExpiresAt <= clock.GetUtcNow())
            {
                await TryTakeAsync(app.AppId, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Gives up every app whose lease, by this replica's clock, has run out unrenewed.</summary>
    private void ReleaseLapsed()
    {
        var now = clock.GetUtcNow();
        List<string> lapsed;
        lock (_gate)
        {
            lapsed = [.. _owned.Values.Where(l => l.ExpiresAt <= now).Select(l => l.PoolId)];
        }
        foreach (var appId in lapsed)
        {
            Lose(appId);
        }
    }

    private void Lose(string appId)
    {
        lock (_gate)
        {
            _owned.Remove(appId);
        }
        scheduler.ReleaseApp(appId);
        LogLost(logger, appId);
    }

    public async ValueTask DisposeAsync()
    {
        // The server disposes it before the scheduler, and the service container again at the end.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        List<PoolLease> held;
        lock (_gate)
        {
            held = [.. _owned.Values];
            _owned.Clear();
        }
        try
        {
            // A clean shutdown hands the apps over at once instead of after a lease duration.
            foreach (var lease in held)
            {
                await leases.ReleaseLeaseAsync(lease.PoolId, ReplicaId, lease.Epoch, clock.GetUtcNow(), CancellationToken.None).ConfigureAwait(false);
            }
            await leases.RemoveReplicaAsync(ReplicaId, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogRoundFailed(logger, e);
        }
        _stopping.Dispose();
        _claiming.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Replica {ReplicaId} serving at {Url}.")]
    private static partial void LogStarted(ILogger logger, string replicaId, Uri url);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the lease of app {AppId}.")]
    private static partial void LogLost(ILogger logger, string appId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A lease round failed; leases not renewed lapse at their expiry.")]
    private static partial void LogRoundFailed(ILogger logger, Exception error);
}
