namespace Ferry.Protocol;

/// <summary>Publishes a build and definition as the next version of a deployed app.</summary>
/// <param name="Name">The deployed app's name; lookups find the app by it.</param>
/// <param name="BuildId">The uploaded build the containers run.</param>
/// <param name="Definition">What the program declared, as its describe mode printed it.</param>
/// <param name="Tag">A label of the caller's choosing, such as a commit hash; null for none.</param>
/// <param name="Source">Who deployed and from where, such as <c>alice@build-7:/src/app.cs</c>.</param>
/// <param name="Ephemeral">
/// For <c>ferry serve</c>: the version lives while its client sends heartbeats (as an ephemeral app does), and its
/// schedules do not fire. False for a real deployment.
/// </param>
public sealed record DeployRequest(string Name, string BuildId, AppDefinition Definition, string? Tag = null, string? Source = null, bool Ephemeral = false);

/// <summary>Makes an earlier version current again, as a new version.</summary>
/// <param name="Version">The version to bring back; null for the one before the current one.</param>
public sealed record RollbackRequest(int? Version = null);

/// <summary>One version of a deployed app.</summary>
/// <param name="AppName">The deployed app's name.</param>
/// <param name="Version">1, 2, ...: one more than the version before it.</param>
/// <param name="AppId">The id the version runs under; <c>ferry app logs</c> takes it.</param>
/// <param name="BuildId">The build it runs.</param>
/// <param name="CreatedAt">When it was deployed.</param>
/// <param name="State">The version's app state now: <c>deployed</c> for the current one, <c>draining</c> or <c>stopped</c>.</param>
/// <param name="Tag">The deployer's label, or null.</param>
/// <param name="Source">Who deployed it and from where, or null.</param>
/// <param name="RollbackOf">For a rollback, the version it brought back; null otherwise.</param>
public sealed record AppVersion(
    string AppName,
    int Version,
    string AppId,
    string BuildId,
    DateTimeOffset CreatedAt,
    string State,
    string? Tag = null,
    string? Source = null,
    int? RollbackOf = null);

/// <summary>A deployed app's versions, oldest first.</summary>
public sealed record AppHistory(string AppName, IReadOnlyList<AppVersion> Versions);

/// <summary>A keep-alive from the client of an ephemeral app; the app stops when they stop coming.</summary>
/// <param name="TimeoutSeconds">How long the server waits after this heartbeat before it stops the app.</param>
public sealed record HeartbeatResponse(double TimeoutSeconds);

/// <summary>A scheduled function of a deployed app, with its last and next run.</summary>
public sealed record ScheduleSummary(string AppName, string Function, string Schedule, DateTimeOffset? LastRun = null, DateTimeOffset? NextRun = null, string? LastCallId = null);

/// <summary>Every schedule of the deployed apps.</summary>
public sealed record ScheduleList(IReadOnlyList<ScheduleSummary> Schedules);

/// <summary>
/// When a function runs on its own, in a deployed app: every <see cref="PeriodSeconds"/>, or at the times a
/// <see cref="Cron"/> expression names in <see cref="TimeZone"/>. Exactly one of the two is set.
/// </summary>
/// <param name="PeriodSeconds">The time between runs, from the deployment on.</param>
/// <param name="Cron">A five-field cron expression (minute hour day month weekday).</param>
/// <param name="TimeZone">An IANA time zone such as <c>Europe/Berlin</c> for <see cref="Cron"/>; null for UTC.</param>
public sealed record ScheduleSpec(double? PeriodSeconds = null, string? Cron = null, string? TimeZone = null);
