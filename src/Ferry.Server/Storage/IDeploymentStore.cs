using Ferry.Protocol;

namespace Ferry.Server.Storage;

/// <summary>
/// One version of a deployed app as stored. The version runs as the app <see cref="AppId"/>; it keeps its own copy of
/// the definition, so a rollback works after the retention period has deleted the version's stopped app.
/// </summary>
internal sealed record DeploymentRecord(
    string Name,
    int Version,
    string AppId,
    string BuildId,
    DateTimeOffset CreatedAt,
    string? Tag,
    string? Source,
    int? RollbackOf,
    AppDefinition Definition);

/// <summary>The last due time a schedule fired for, and the call it made: what keeps each due time to one run.</summary>
internal sealed record ScheduleFireRecord(string AppName, string Function, DateTimeOffset LastDue, string CallId);

/// <summary>
/// Deployed apps' version history and their schedules' last runs. Writes follow the rules of <see cref="IStore"/>.
/// </summary>
internal interface IDeploymentStore
{
    /// <summary>Inserts a version. Idempotent: a (name, version) already stored is left as it is.</summary>
    Task SaveDeploymentAsync(DeploymentRecord deployment, CancellationToken cancellationToken);

    /// <summary>Every stored version, by name then version.</summary>
    Task<IReadOnlyList<DeploymentRecord>> ListDeploymentsAsync(CancellationToken cancellationToken);

    /// <summary>Records a schedule's last fire, replacing the one stored for the same app name and function.</summary>
    Task SaveScheduleFireAsync(ScheduleFireRecord fire, CancellationToken cancellationToken);

    /// <summary>Every schedule's last fire, by app name then function.</summary>
    Task<IReadOnlyList<ScheduleFireRecord>> ListScheduleFiresAsync(CancellationToken cancellationToken);
}
