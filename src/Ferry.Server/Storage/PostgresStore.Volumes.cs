using Npgsql;

namespace Ferry.Server.Storage;

/// <summary>Volumes' manifests on PostgreSQL. Paths compare by byte (<c>COLLATE "C"</c>), as in SQLite.</summary>
internal sealed partial class PostgresStore
{
    /// <summary>The volumes' schema step, appended to <see cref="Migrations"/>.</summary>
    private const string VolumesMigration = """
        CREATE TABLE volumes(name text PRIMARY KEY, version bigint NOT NULL, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
        CREATE TABLE volume_files(volume text NOT NULL, path text COLLATE "C" NOT NULL, hash text NOT NULL, size bigint NOT NULL, mode integer NOT NULL,
            PRIMARY KEY(volume, path));
        """;

    private const string VolumeSelect = """
        SELECT v.name, v.version, COUNT(f.path), COALESCE(SUM(f.size), 0)::bigint, v.created_at, v.updated_at
        FROM volumes v LEFT JOIN volume_files f ON f.volume = v.name
        """;

    private static VolumeRecord ReadVolume(NpgsqlDataReader r) => new(r.GetString(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), Time(r, 4), Time(r, 5));

    public Task<bool> CreateVolumeAsync(string name, DateTimeOffset now, CancellationToken cancellationToken) => WriteAsync(async c =>
        await ExecuteAsync(c, "INSERT INTO volumes(name, version, created_at, updated_at) VALUES(@n, 0, @c, @c) ON CONFLICT DO NOTHING",
            P("n", name), P("c", Utc(now))).ConfigureAwait(false) > 0, cancellationToken);

    public async Task<VolumeRecord?> GetVolumeAsync(string name, CancellationToken cancellationToken) => (await QueryAsync(
        VolumeSelect + " WHERE v.name = @n GROUP BY v.name", [P("n", name)], ReadVolume, cancellationToken).ConfigureAwait(false)).FirstOrDefault();

    public async Task<IReadOnlyList<VolumeRecord>> ListVolumesAsync(CancellationToken cancellationToken) => await QueryAsync(
        VolumeSelect + " GROUP BY v.name ORDER BY v.name COLLATE \"C\"", [], ReadVolume, cancellationToken).ConfigureAwait(false);

    public Task<bool> DeleteVolumeAsync(string name, CancellationToken cancellationToken) => WriteAsync(async c =>
    {
        if (await ExecuteAsync(c, "DELETE FROM volumes WHERE name = @n", P("n", name)).ConfigureAwait(false) == 0)
        {
            return false;
        }
        await ExecuteAsync(c, "DELETE FROM volume_files WHERE volume = @n", P("n", name)).ConfigureAwait(false);
        return true;
    }, cancellationToken);

    public async Task<(long Version, IReadOnlyList<VolumeFileRecord> Files)?> GetVolumeFilesAsync(string name, string under, CancellationToken cancellationToken)
    {
        var (above, below) = VolumeRanges.Under(under);
        // One statement, so the version and the files are of one snapshot.
        var rows = await QueryAsync("""
            SELECT v.version, f.path, f.hash, f.size, f.mode FROM volumes v
            LEFT JOIN volume_files f ON f.volume = v.name AND (@all OR f.path = @p OR (f.path > @above AND f.path < @below))
            WHERE v.name = @n ORDER BY f.path
            """,
            [P("n", name), P("all", under.Length == 0), P("p", under), P("above", above), P("below", below)],
            r => (Version: r.GetInt64(0), File: r.IsDBNull(1) ? null : new VolumeFileRecord(r.GetString(1), r.GetString(2), r.GetInt64(3), r.GetInt32(4))),
            cancellationToken).ConfigureAwait(false);
        return rows.Count == 0 ? null : (rows[0].Version, rows.Where(r => r.File is not null).Select(r => r.File!).ToList());
    }

    public Task<(VolumeCommitOutcome Outcome, long Version)> CommitVolumeAsync(string name, IReadOnlyList<VolumeFileRecord> put, IReadOnlyList<string> removed, int maxFiles,
        DateTimeOffset now, CancellationToken cancellationToken) => WriteAsync<(VolumeCommitOutcome, long)>(async c =>
    {
        // The row lock orders commits to one volume when several servers share the database.
        var found = await QueryOnAsync(c, "SELECT version FROM volumes WHERE name = @n FOR UPDATE", P("n", name)).ConfigureAwait(false);
        if (found is not long current)
        {
            return (VolumeCommitOutcome.NoVolume, 0);
        }
        // A commit over the file limit changes nothing: its own savepoint inside the group's transaction.
        await ExecuteAsync(c, "SAVEPOINT volume_commit").ConfigureAwait(false);
        string[] gone = [.. removed.Concat(put.SelectMany(f => VolumeRanges.Ancestors(f.Path))).Distinct(StringComparer.Ordinal)];
        if (gone.Length > 0)
        {
            await ExecuteAsync(c, "DELETE FROM volume_files WHERE volume = @v AND path = ANY(@p)", P("v", name), P("p", gone)).ConfigureAwait(false);
        }
        if (put.Count > 0)
        {
            string[] paths = [.. put.Select(f => f.Path)];
            await ExecuteAsync(c, """
                DELETE FROM volume_files f USING unnest(@p::text[]) AS u(path)
                WHERE f.volume = @v AND f.path > (u.path || '/') COLLATE "C" AND f.path < (u.path || '0') COLLATE "C"
                """, P("v", name), P("p", paths)).ConfigureAwait(false);
            await ExecuteAsync(c, """
                INSERT INTO volume_files(volume, path, hash, size, mode) SELECT @v, u.path, u.hash, u.size, u.mode
                FROM unnest(@p::text[], @h::text[], @s::bigint[], @m::integer[]) AS u(path, hash, size, mode)
                ON CONFLICT(volume, path) DO UPDATE SET hash = excluded.hash, size = excluded.size, mode = excluded.mode
                """, P("v", name), P("p", paths), P("h", put.Select(f => f.Hash).ToArray()), P("s", put.Select(f => f.Size).ToArray()),
                P("m", put.Select(f => f.Mode).ToArray())).ConfigureAwait(false);
        }
        if (await ScalarAsync(c, "SELECT COUNT(*) FROM volume_files WHERE volume = @v", P("v", name)).ConfigureAwait(false) > maxFiles)
        {
            await ExecuteAsync(c, "ROLLBACK TO SAVEPOINT volume_commit; RELEASE SAVEPOINT volume_commit").ConfigureAwait(false);
            return (VolumeCommitOutcome.TooManyFiles, current);
        }
        await ExecuteAsync(c, "RELEASE SAVEPOINT volume_commit").ConfigureAwait(false);
        await ExecuteAsync(c, "UPDATE volumes SET version = @next, updated_at = @u WHERE name = @n", P("next", current + 1), P("u", Utc(now)), P("n", name))
            .ConfigureAwait(false);
        return (VolumeCommitOutcome.Committed, current + 1);
    }, cancellationToken);

    private static async Task<object?> QueryOnAsync(NpgsqlConnection connection, string sql, params NpgsqlParameter[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddRange(parameters);
        return await command.ExecuteScalarAsync().ConfigureAwait(false);
    }
}
