using System.Text.Json;

namespace Ferry.Server.Storage;

internal sealed partial class SqliteStore
{
    private const string DeploymentSchema = """
        CREATE TABLE IF NOT EXISTS deployments(name TEXT NOT NULL, version INTEGER NOT NULL, app_id TEXT NOT NULL,
            build_id TEXT NOT NULL, created_at INTEGER NOT NULL, tag TEXT, source TEXT, rollback_of INTEGER,
            definition TEXT NOT NULL, PRIMARY KEY(name, version));
        CREATE TABLE IF NOT EXISTS schedule_fires(app_name TEXT NOT NULL, function TEXT NOT NULL, last_due INTEGER NOT NULL,
            call_id TEXT NOT NULL, PRIMARY KEY(app_name, function));
        """;

    public Task SaveDeploymentAsync(DeploymentRecord deployment, CancellationToken cancellationToken) => WriteAsync(c =>
    {
        using var command = Command(c, """
            INSERT OR IGNORE INTO deployments(name, version, app_id, build_id, created_at, tag, source, rollback_of, definition)
            VALUES($name, $version, $app, $build, $created, $tag, $source, $rollback, $def)
            """,
            ("$name", deployment.Name), ("$version", deployment.Version), ("$app", deployment.AppId), ("$build", deployment.BuildId),
            ("$created", Ms(deployment.CreatedAt)), ("$tag", deployment.Tag), ("$source", deployment.Source), ("$rollback", deployment.RollbackOf),
            ("$def", JsonSerializer.Serialize(deployment.Definition, Json.AppDefinition)));
        command.ExecuteNonQuery();
    });

    public async Task<IReadOnlyList<DeploymentRecord>> ListDeploymentsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT name, version, app_id, build_id, created_at, tag, source, rollback_of, definition FROM deployments ORDER BY name, version";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var rows = new List<DeploymentRecord>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var tag = await reader.IsDBNullAsync(5, cancellationToken).ConfigureAwait(false) ? null : reader.GetString(5);
            var source = await reader.IsDBNullAsync(6, cancellationToken).ConfigureAwait(false) ? null : reader.GetString(6);
            int? rollbackOf = await reader.IsDBNullAsync(7, cancellationToken).ConfigureAwait(false) ? null : reader.GetInt32(7);
            rows.Add(new DeploymentRecord(
                reader.GetString(0), reader.GetInt32(1), reader.GetString(2), reader.GetString(3), Time(reader.GetInt64(4)), tag, source, rollbackOf,
                JsonSerializer.Deserialize(reader.GetString(8), Json.AppDefinition)!));
        }
        return rows;
    }

    public Task SaveScheduleFireAsync(ScheduleFireRecord fire, CancellationToken cancellationToken) => WriteAsync(c =>
    {
        using var command = Command(c, """
            INSERT INTO schedule_fires(app_name, function, last_due, call_id) VALUES($app, $fn, $due, $call)
            ON CONFLICT(app_name, function) DO UPDATE SET last_due = $due, call_id = $call
            """,
            ("$app", fire.AppName), ("$fn", fire.Function), ("$due", Ms(fire.LastDue)), ("$call", fire.CallId));
        command.ExecuteNonQuery();
    });

    public async Task<IReadOnlyList<ScheduleFireRecord>> ListScheduleFiresAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT app_name, function, last_due, call_id FROM schedule_fires ORDER BY app_name, function";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var rows = new List<ScheduleFireRecord>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(new ScheduleFireRecord(reader.GetString(0), reader.GetString(1), Time(reader.GetInt64(2)), reader.GetString(3)));
        }
        return rows;
    }
}
