using Ferry.Protocol;
using Ferry.Server.Storage;

namespace Ferry.Server.Scheduling;

/// <summary>
/// Deployed apps inside the scheduler: each version is an app of its own, in state <see cref="AppStates.Deployed"/>
/// while it is current. A new version takes the name's new calls at once; the one it replaces turns
/// <see cref="AppStates.Draining"/>, finishes the inputs it has in its own containers, and stops once none is left.
/// </summary>
internal sealed partial class Scheduler
{
    private readonly Dictionary<string, DateTimeOffset> _heartbeats = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _versions = new(StringComparer.Ordinal);

    /// <summary>Records which version of a deployed app an app is, for listings.</summary>
    public void SetVersion(string appId, int version)
    {
        lock (_gate)
        {
            _versions[appId] = version;
        }
    }

    private int? VersionLocked(string appId) => _versions.TryGetValue(appId, out var version) ? version : null;

    /// <summary>
    /// Makes a new app the current version of <paramref name="name"/>; the version it replaces starts draining.
    /// Returns the new app and the replaced ones as they are now.
    /// </summary>
    /// <remarks>
    /// A served version (<c>ferry serve</c>) is saved with <see cref="AppRecord.Detached"/> false: it lives while its
    /// client sends heartbeats, and its schedules do not fire.
    /// </remarks>
    public async Task<(AppRecord App, IReadOnlyList<AppRecord> Replaced)> DeployAsync(string appId, string name, string buildId, AppDefinition definition, bool ephemeral, CancellationToken cancellationToken)
    {
        var record = new AppRecord(appId, name, buildId, AppStates.Deployed, !ephemeral, clock.GetUtcNow(), null, definition);
        // The new version is durable before any older one is demoted: after a crash in between, the start-up pass
        // demotes the older one again.
        await appStore.SaveAppAsync(record, cancellationToken).ConfigureAwait(false);
        await logs.InitializeAppAsync(record.AppId, stopped: false, cancellationToken).ConfigureAwait(false);
        var replaced = new List<AppRecord>();
        lock (_gate)
        {
            var app = new AppState(record);
            _apps.Add(app);
            var now = clock.GetUtcNow();
            foreach (var function in definition.Functions)
            {
                var pool = AppRegistry.GetOrCreatePool(app, function, null);
                // The new version takes its labels at once: the replaced one drains its requests in flight.
                if (function.Settings.Web is { } web)
                {
                    RouteWebLocked(web.Label, pool);
                }
                ScaleLocked(pool, now);
            }
            foreach (var old in _apps.Values.Where(a => a != app && a.Record.Name == name && a.Record.State == AppStates.Deployed).ToList())
            {
                old.Record = old.Record with { State = AppStates.Draining };
                logs.System(old.AppId, null, null, $"Replaced by {record.AppId}: finishing the inputs this version has, then stopping.");
                replaced.Add(old.Record);
            }
        }
        foreach (var old in replaced)
        {
            await appStore.SaveAppAsync(old, cancellationToken).ConfigureAwait(false);
        }
        return (record, replaced);
    }

    /// <summary>
    /// After a restart: of several <see cref="AppStates.Deployed"/> apps of one name (a crash during a deploy), only
    /// the newest stays current. Every deployed or draining app gets its default pools, so min and buffer containers
    /// come back with no client. Returns the demoted apps, to save.
    /// </summary>
    public IReadOnlyList<AppRecord> RestoreDeployments()
    {
        lock (_gate)
        {
            var demoted = new List<AppRecord>();
            foreach (var group in _apps.Values.Where(a => a.Record.State == AppStates.Deployed).GroupBy(a => a.Record.Name))
            {
                foreach (var old in group.OrderByDescending(a => a.Record.CreatedAt).Skip(1))
                {
                    old.Record = old.Record with { State = AppStates.Draining };
                    demoted.Add(old.Record);
                }
            }
            var now = clock.GetUtcNow();
            foreach (var app in _apps.Values.Where(a => a.Record.State is AppStates.Deployed or AppStates.Draining && a.Record.Definition is not null).OrderBy(a => a.Record.CreatedAt))
            {
                foreach (var function in app.Record.Definition!.Functions)
                {
                    var pool = AppRegistry.GetOrCreatePool(app, function, null);
                    if (app.Record.State == AppStates.Deployed && function.Settings.Web is { } web)
                    {
                        RouteWebLocked(web.Label, pool);
                    }
                    ScaleLocked(pool, now);
                }
            }
            return demoted;
        }
    }

    /// <summary>The draining apps with no unfinished call left: they can stop.</summary>
    public IReadOnlyList<string> DrainedApps()
    {
        lock (_gate)
        {
            var draining = _apps.Values.Where(a => a.Record.State == AppStates.Draining).ToList();
            if (draining.Count == 0)
            {
                return [];
            }
            var busy = _calls.Values.Where(c => !c.IsDone).Select(c => c.Pool.App).ToHashSet();
            return [.. draining.Where(a => !busy.Contains(a) && a.Pools.Values.All(p => p.RunningInputs == 0 && p.Queued == 0 && p.Delayed.Count == 0)).Select(a => a.AppId)];
        }
    }

    /// <summary>
    /// The app a new call goes to: an app id as is, unless it is a replaced version, whose new calls go to the
    /// current version; a name reaches the current deployed version, else the newest running app of that name.
    /// </summary>
    /// <exception cref="NotFoundException">No app has that id, and no running app that name; the message lists the deployed apps.</exception>
    public string ResolveCallTarget(string idOrName)
    {
        lock (_gate)
        {
            if (_apps.TryGetValue(idOrName, out var app))
            {
                return app.Record.State == AppStates.Draining && CurrentVersionLocked(app.Record.Name) is { } current ? current.AppId : idOrName;
            }
            if (CurrentVersionLocked(idOrName) is { } deployed)
            {
                return deployed.AppId;
            }
            var running = _apps.Values.Where(a => a.Record.Name == idOrName && !a.Stopped).OrderByDescending(a => a.Record.CreatedAt).FirstOrDefault();
            if (running is not null)
            {
                return running.AppId;
            }
            var names = _apps.Values.Where(a => a.Record.State == AppStates.Deployed).Select(a => a.Record.Name).Distinct().Order(StringComparer.Ordinal).ToList();
            throw new NotFoundException($"No deployed app is named '{idOrName}'. Deployed apps: {(names.Count == 0 ? "none" : string.Join(", ", names))}.");
        }
    }

    /// <summary>Whether an app is a version of a deployed app (current or draining): any container may call it.</summary>
    public bool IsDeployedApp(string appId)
    {
        lock (_gate)
        {
            return _apps.TryGetValue(appId, out var app) && app.Record.State is AppStates.Deployed or AppStates.Draining;
        }
    }

    /// <summary>The current version of every deployed app, served ones (<c>ferry serve</c>) included when asked.</summary>
    public IReadOnlyList<AppRecord> DeployedApps(bool includeServed = false)
    {
        lock (_gate)
        {
            return [.. _apps.Values.Where(a => a.Record.State == AppStates.Deployed && (includeServed || a.Record.Detached)).Select(a => a.Record)];
        }
    }

    /// <summary>The current deployed version of <paramref name="name"/>, or null.</summary>
    public AppRecord? CurrentVersion(string name)
    {
        lock (_gate)
        {
            return CurrentVersionLocked(name)?.Record;
        }
    }

    private AppState? CurrentVersionLocked(string name) =>
        _apps.Values.Where(a => a.Record.Name == name && a.Record.State == AppStates.Deployed).OrderByDescending(a => a.Record.CreatedAt).FirstOrDefault();

    /// <summary>Whether a call made by a schedule is still unfinished (in memory: a restart forgets finished calls).</summary>
    public bool IsCallUnfinished(string callId)
    {
        lock (_gate)
        {
            return _calls.TryGetValue(callId, out var call) && !call.IsDone;
        }
    }

    /// <summary>Records that an ephemeral app's client is alive at the clock's time.</summary>
    /// <exception cref="NotFoundException">No app has the id.</exception>
    /// <exception cref="ConflictException">The app is stopped.</exception>
    public void Heartbeat(string appId)
    {
        lock (_gate)
        {
            var app = _apps.Require(appId);
            if (app.Stopped)
            {
                throw new ConflictException($"The app '{app.Record.Name}' ({appId}) is stopped.");
            }
            _heartbeats[appId] = clock.GetUtcNow();
        }
    }

    /// <summary>
    /// The running apps whose client sent heartbeats and then none for <paramref name="timeout"/>; they stop. An app
    /// whose client never sent one is not tracked, and neither is a detached or deployed one.
    /// </summary>
    public IReadOnlyList<string> OrphanedApps(TimeSpan timeout)
    {
        lock (_gate)
        {
            var now = clock.GetUtcNow();
            var orphaned = new List<string>();
            foreach (var (appId, last) in _heartbeats.ToList())
            {
                if (!_apps.TryGetValue(appId, out var app) || !(app.Record.State == AppStates.Running || app.Record.State == AppStates.Deployed && !app.Record.Detached))
                {
                    _heartbeats.Remove(appId);
                }
                else if (now - last > timeout)
                {
                    _heartbeats.Remove(appId);
                    orphaned.Add(appId);
                }
            }
            return orphaned;
        }
    }
}
