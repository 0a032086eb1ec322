using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Ferry.Protocol;
using Ferry.Server.Logs;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Microsoft.Extensions.Logging;

namespace Ferry.Server.Deployments;

/// <summary>How deployed and ephemeral apps are kept: heartbeats, draining and the schedule loop.</summary>
public sealed record DeploymentOptions
{
    /// <summary>
    /// How long an ephemeral app lives after its client's last heartbeat; the client sends one every quarter of it.
    /// Default: 20 s, so a client killed with <c>kill -9</c> has its app stopped within 20 s plus <see cref="Interval"/>.
    /// </summary>
    public TimeSpan HeartbeatTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How often the loop stops drained versions and orphaned apps and fires due schedules. Default: 500 ms.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromMilliseconds(500);
}

/// <summary>
/// Deployed apps: their versions (v1, v2, ...) in the store, redeploys and rollbacks that swap the current version
/// with the drain rules of <see cref="Scheduler.DeployAsync"/>, the ephemeral apps whose client stopped sending
/// heartbeats, and schedules, which fire only for deployed apps.
/// </summary>
internal sealed partial class DeploymentService(
    Scheduler scheduler,
    IDeploymentStore store,
    IAppStore appStore,
    ICallStore callStore,
    LogHub logs,
    TimeProvider clock,
    DeploymentOptions options,
    ILogger<DeploymentService> logger) : IAsyncDisposable
{
    /// <summary>The most due times one schedule is walked through on recovery before the newest is taken as is.</summary>
    private const int MaxCatchUpSteps = 1_000_000;

    private readonly SemaphoreSlim _deploying = new(1, 1);
    private readonly Lock _gate = new();
    private readonly List<DeploymentRecord> _versions = [];
    private readonly Dictionary<(string App, string Function), ScheduleFireRecord> _fires = [];
    private readonly SemaphoreSlim _passing = new(1, 1);
    private PeriodicPass? _loop;

    public DeploymentOptions Options => options;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var versions = await store.ListDeploymentsAsync(cancellationToken).ConfigureAwait(false);
        var fires = await store.ListScheduleFiresAsync(cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            _versions.AddRange(versions);
            foreach (var fire in fires)
            {
                _fires[(fire.AppName, fire.Function)] = fire;
            }
        }
        foreach (var version in versions)
        {
            scheduler.SetVersion(version.AppId, version.Version);
        }
        foreach (var demoted in scheduler.RestoreDeployments())
        {
            await appStore.SaveAppAsync(demoted, cancellationToken).ConfigureAwait(false);
        }
        _loop = new PeriodicPass(options.Interval, clock, RunOnceAsync, e => LogPassFailed(logger, e));
        _loop.Start(passNow: false);
    }

    /// <summary>Deploys the next version of an app.</summary>
    public async Task<AppVersion> DeployAsync(DeployRequest request, CancellationToken cancellationToken) =>
        await PublishAsync(request.Name, request.BuildId, request.Definition, request.Tag, request.Source, null, request.Ephemeral, cancellationToken).ConfigureAwait(false);

    /// <summary>Makes an earlier version current again, as a new version that runs its build and definition.</summary>
    /// <exception cref="NotFoundException">The app was never deployed, or has no such version; the message lists those it has.</exception>
    public async Task<AppVersion> RollbackAsync(string name, int? version, string? source, CancellationToken cancellationToken)
    {
        var history = History(name);
        if (history.Count == 0)
        {
            throw new NotFoundException($"No app named '{name}' was ever deployed.");
        }
        var current = scheduler.CurrentVersion(name);
        var currentVersion = history.FirstOrDefault(v => v.AppId == current?.AppId)?.Version ?? history[^1].Version;
        var target = version is { } wanted
            ? history.FirstOrDefault(v => v.Version == wanted)
                ?? throw new NotFoundException($"App '{name}' has no version {wanted}. Versions: {string.Join(", ", history.Select(v => "v" + v.Version))}.")
            : history.LastOrDefault(v => v.Version < currentVersion)
                ?? throw new NotFoundException($"App '{name}' has no version before v{currentVersion} to roll back to.");
        return await PublishAsync(name, target.BuildId, target.Definition, target.Tag, source, target.Version, current is { Detached: false }, cancellationToken).ConfigureAwait(false);
    }

    private async Task<AppVersion> PublishAsync(string name, string buildId, AppDefinition definition, string? tag, string? source, int? rollbackOf, bool ephemeral, CancellationToken cancellationToken)
    {
        await _deploying.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var number = History(name).Select(v => v.Version).DefaultIfEmpty(0).Max() + 1;
            var appId = Ids.New("ap");
            var record = new DeploymentRecord(name, number, appId, buildId, clock.GetUtcNow(), tag, source, rollbackOf, definition with { Name = name });
            await store.SaveDeploymentAsync(record, cancellationToken).ConfigureAwait(false);
            lock (_gate)
            {
                _versions.Add(record);
            }
            scheduler.SetVersion(appId, number);
            var (app, replaced) = await scheduler.DeployAsync(appId, name, buildId, record.Definition, ephemeral, cancellationToken).ConfigureAwait(false);
            logs.System(appId, null, null, rollbackOf is { } earlier
                ? $"Deployed v{number}: a rollback to v{earlier}."
                : $"Deployed v{number}{(tag is null ? "" : $" ({tag})")}.");
            LogDeployed(logger, name, number, appId, replaced.Count);
            return ToVersion(record, app.State);
        }
        finally
        {
            _deploying.Release();
        }
    }

    /// <summary>An app's versions, oldest first; empty when it was never deployed.</summary>
    public IReadOnlyList<DeploymentRecord> History(string name)
    {
        lock (_gate)
        {
            return [.. _versions.Where(v => v.Name == name).OrderBy(v => v.Version)];
        }
    }

    public AppVersion ToVersion(DeploymentRecord record, string? state = null)
    {
        if (state is null)
        {
            try
            {
                state = scheduler.GetApp(record.AppId).State;
            }
            catch (NotFoundException)
            {
                state = AppStates.Stopped;
            }
        }
        return new AppVersion(record.Name, record.Version, record.AppId, record.BuildId, record.CreatedAt, state, record.Tag, record.Source, record.RollbackOf);
    }

    /// <summary>The schedules of the current deployed versions, with their last and next runs.</summary>
    public IReadOnlyList<ScheduleSummary> Schedules()
    {
        var now = clock.GetUtcNow();
        var list = new List<ScheduleSummary>();
        foreach (var app in scheduler.DeployedApps().OrderBy(a => a.Name, StringComparer.Ordinal))
        {
            foreach (var function in app.Definition?.Functions ?? [])
            {
                if (function.Settings.Schedule is not { } spec)
                {
                    continue;
                }
                ScheduleFireRecord? fire;
                lock (_gate)
                {
                    _fires.TryGetValue((app.Name, function.Name), out fire);
                }
                var anchor = Anchor(app, fire);
                var next = ScheduleTimes.Next(spec, anchor, anchor > now ? anchor : now);
                list.Add(new ScheduleSummary(app.Name, function.Name, ScheduleTimes.Describe(spec), fire?.LastDue, next, fire?.CallId));
            }
        }
        return list;
    }

    /// <summary>A schedule counts its due times from its last fire, or from the deployment of the version that has it.</summary>
    private static DateTimeOffset Anchor(AppRecord app, ScheduleFireRecord? fire) => fire?.LastDue ?? app.CreatedAt;

    /// <summary>
    /// One pass at the clock's time: stops drained versions and the ephemeral apps whose client went quiet, and fires
    /// the schedules that are due. Passes do not overlap.
    /// </summary>
    public async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        await _passing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var appId in scheduler.DrainedApps())
            {
                logs.System(appId, null, null, "Drained: every input of this version has finished.");
                await scheduler.StopAppAsync(appId, cancellationToken).ConfigureAwait(false);
            }
            foreach (var appId in scheduler.OrphanedApps(options.HeartbeatTimeout))
            {
                logs.System(appId, null, null, $"The app's client sent no heartbeat for {options.HeartbeatTimeout.TotalSeconds:0} s: stopping the app.");
                LogOrphaned(logger, appId, options.HeartbeatTimeout.TotalSeconds);
                await scheduler.StopAppAsync(appId, cancellationToken).ConfigureAwait(false);
            }
            await FireDueSchedulesAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _passing.Release();
        }
    }

    private async Task FireDueSchedulesAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        foreach (var app in scheduler.DeployedApps())
        {
            foreach (var function in app.Definition?.Functions ?? [])
            {
                if (function.Settings.Schedule is not { } spec)
                {
                    continue;
                }
                ScheduleFireRecord? fire;
                lock (_gate)
                {
                    _fires.TryGetValue((app.Name, function.Name), out fire);
                }
                if (LatestDue(spec, Anchor(app, fire), now) is not { } due)
                {
                    continue;
                }
                await FireAsync(app, function, spec, due, fire, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The newest due time in (<paramref name="anchor"/>, <paramref name="now"/>], or null: a server that was down
    /// through several due times runs the schedule once, for the newest.
    /// </summary>
    internal static DateTimeOffset? LatestDue(ScheduleSpec spec, DateTimeOffset anchor, DateTimeOffset now)
    {
        DateTimeOffset? latest = null;
        var after = anchor;
        for (var step = 0; step < MaxCatchUpSteps; step++)
        {
            var next = ScheduleTimes.Next(spec, anchor, after);
            if (next is null || next > now)
            {
                return latest;
            }
            latest = next;
            after = next.Value;
        }
        return latest;
    }

    private async Task FireAsync(AppRecord app, FunctionDefinition function, ScheduleSpec spec, DateTimeOffset due, ScheduleFireRecord? previous, CancellationToken cancellationToken)
    {
        var callId = ScheduledCallId(app.Name, function.Name, due);
        var describe = ScheduleTimes.Describe(spec);
        if (previous is not null && function.Settings.MaxInputs <= 1 && scheduler.IsCallUnfinished(previous.CallId))
        {
            // One run at a time unless the function takes concurrent inputs: the due time is skipped, not queued.
            logs.System(app.AppId, function.Name, null, $"Schedule {describe}: skipped the run due {due:u}; the run {previous.CallId} is still going.");
            await RecordAsync(new ScheduleFireRecord(app.Name, function.Name, due, previous.CallId), cancellationToken).ConfigureAwait(false);
            return;
        }
        // A fire whose call was stored but not its record (a crash in between) is not repeated.
        if (await callStore.GetCallAsync(callId, cancellationToken).ConfigureAwait(false) is null)
        {
            var args = JsonDocument.Parse("[]").RootElement.Clone();
            try
            {
                await scheduler.CreateCallAsync(app.AppId, new CreateCallRequest(callId, function.Name, CallKinds.Spawn, [new InputItem(0, args)], true), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ConflictException or NotFoundException)
            {
                // The version stopped or changed under the pass; the next pass looks again.
                LogFireFailed(logger, app.Name, function.Name, e.Message);
                return;
            }
            logs.System(app.AppId, function.Name, null, $"Schedule {describe}: run due {due:u} started as call {callId}.");
        }
        await RecordAsync(new ScheduleFireRecord(app.Name, function.Name, due, callId), cancellationToken).ConfigureAwait(false);
    }

    private async Task RecordAsync(ScheduleFireRecord fire, CancellationToken cancellationToken)
    {
        await store.SaveScheduleFireAsync(fire, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            _fires[(fire.AppName, fire.Function)] = fire;
        }
    }

    /// <summary>The same id for the same app, function and due time: what keeps a due time to one run across a restart.</summary>
    internal static string ScheduledCallId(string appName, string function, DateTimeOffset due) =>
        "cs-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{appName}\n{function}\n{due.ToUnixTimeMilliseconds()}")))[..24];

    /// <summary>Stops the loop; the server calls it before it stops the scheduler, and the service container again.</summary>
    public ValueTask DisposeAsync() => _loop?.DisposeAsync() ?? ValueTask.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Deployed {AppName} v{Version} as {AppId}; {Replaced} version(s) draining.")]
    private static partial void LogDeployed(ILogger logger, string appName, int version, string appId, int replaced);

    [LoggerMessage(Level = LogLevel.Information, Message = "App {AppId} lost its client (no heartbeat for {Seconds} s); stopping it.")]
    private static partial void LogOrphaned(ILogger logger, string appId, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Schedule of {AppName}.{Function} did not fire: {Reason}")]
    private static partial void LogFireFailed(ILogger logger, string appName, string function, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "A deployment pass failed.")]
    private static partial void LogPassFailed(ILogger logger, Exception error);
}
