using System.Text.Json;

namespace Ferry.Server.Storage;

internal sealed partial class PostgresStore
{
    /// <summary>The schema step that adds deployed apps' versions and their schedules' last runs.</summary>
    private const string DeploymentMigration = """
        CREATE TABLE deployments(name text NOT NULL, version integer NOT NULL, app_id text NOT NULL, build_id text NOT NULL,
            created_at timestamptz NOT NULL, tag text, source text, rollback_of integer, definition text NOT NULL, PRIMARY KEY(name, version));
        CREATE TABLE schedule_fires(app_name text NOT NULL, function text NOT NULL, last_due timestamptz NOT NULL,
            call_id text NOT NULL, PRIMARY KEY(app_name, function));
        """;

    public Task SaveDeploymentAsync(DeploymentRecord deployment, CancellationToken cancellationToken) => WriteAsync(c => ExecuteAsync(c, """
        INSERT INTO deployments(name, version, app_id, build_id, created_at, tag, source, rollback_of, definition)
        VALUES(@name, @version, @app, @build, @created, @tag, @source, @rollback, @definition) ON CONFLICT DO NOTHING
        """,
        P("name", deployment.Name), P("version", deployment.Version), P("app", deployment.AppId), P("build", deployment.BuildId),
        P("created", Utc(deployment.CreatedAt)), P("tag", deployment.Tag), P("source", deployment.Source), P("rollback", deployment.RollbackOf),
        P("definition", JsonSerializer.Serialize(deployment.Definition, Json.AppDefinition))), cancellationToken);

    public async Task<IReadOnlyList<DeploymentRecord>> ListDeploymentsAsync(CancellationToken cancellationToken) => await QueryAsync(
        "SELECT name, version, app_id, build_id, created_at, tag, source, rollback_of, definition FROM deployments ORDER BY name, version", [],
        r => new DeploymentRecord(r.GetString(0), r.GetInt32(1), r.GetString(2), r.GetString(3), Time(r, 4), StringOrNull(r, 5), StringOrNull(r, 6),
            r.IsDBNull(7) ? null : r.GetInt32(7), JsonSerializer.Deserialize(r.GetString(8), Json.AppDefinition)!),
        cancellationToken).ConfigureAwait(false);

    public Task SaveScheduleFireAsync(ScheduleFireRecord fire, CancellationToken cancellationToken) => WriteAsync(c => ExecuteAsync(c, """
        INSERT INTO schedule_fires(app_name, function, last_due, call_id) VALUES(@app, @function, @due, @call)
        ON CONFLICT(app_name, function) DO UPDATE SET last_due = excluded.last_due, call_id = excluded.call_id
        """,
        P("app", fire.AppName), P("function", fire.Function), P("due", Utc(fire.LastDue)), P("call", fire.CallId)), cancellationToken);

    public async Task<IReadOnlyList<ScheduleFireRecord>> ListScheduleFiresAsync(CancellationToken cancellationToken) => await QueryAsync(
        "SELECT app_name, function, last_due, call_id FROM schedule_fires ORDER BY app_name, function", [],
        r => new ScheduleFireRecord(r.GetString(0), r.GetString(1), Time(r, 2), r.GetString(3)),
        cancellationToken).ConfigureAwait(false);
}
