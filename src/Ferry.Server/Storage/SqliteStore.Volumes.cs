using Microsoft.Data.Sqlite;

namespace Ferry.Server.Storage;

/// <summary>Volumes' manifests in the embedded store. Paths compare by byte (SQLite's BINARY collation on UTF-8).</summary>
internal sealed partial class SqliteStore
{
    /// <summary>The volumes' schema step of <see cref="Migrations"/>.</summary>
    private const string VolumesMigration = """
        CREATE TABLE volumes(name TEXT PRIMARY KEY, version INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
        CREATE TABLE volume_files(volume TEXT NOT NULL, path TEXT NOT NULL, hash TEXT NOT NULL, size INTEGER NOT NULL, mode INTEGER NOT NULL,
            PRIMARY KEY(volume, path)) WITHOUT ROWID;
        """;

    private const string VolumeSelect = """
        SELECT v.name, v.version, COUNT(f.path), COALESCE(SUM(f.size), 0), v.created_at, v.updated_at
        FROM volumes v LEFT JOIN volume_files f ON f.volume = v.name
        """;

    private static VolumeRecord ReadVolume(SqliteDataReader r) =>
        new(r.GetString(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), Time(r.GetInt64(4)), Time(r.GetInt64(5)));

    public Task<bool> CreateVolumeAsync(string name, DateTimeOffset now, CancellationToken cancellationToken) => WriteAsync(c =>
        Execute(c, "INSERT OR IGNORE INTO volumes(name, version, created_at, updated_at) VALUES($n, 0, $c, $c)", ("$n", name), ("$c", Ms(now))) > 0);

    public async Task<VolumeRecord?> GetVolumeAsync(string name, CancellationToken cancellationToken) => (await ReadAsync(
        VolumeSelect + " WHERE v.name = $n GROUP BY v.name", [("$n", name)], ReadVolume, cancellationToken).ConfigureAwait(false)).FirstOrDefault();

    public async Task<IReadOnlyList<VolumeRecord>> ListVolumesAsync(CancellationToken cancellationToken) => await ReadAsync(
        VolumeSelect + " GROUP BY v.name ORDER BY v.name", [], ReadVolume, cancellationToken).ConfigureAwait(false);

    public Task<bool> DeleteVolumeAsync(string name, CancellationToken cancellationToken) => WriteAsync(c =>
    {
        if (Execute(c, "DELETE FROM volumes WHERE name = $n", ("$n", name)) == 0)
        {
            return false;
        }
        Execute(c, "DELETE FROM volume_files WHERE volume = $n", ("$n", name));
        return true;
    });

    public async Task<(long Version, IReadOnlyList<VolumeFileRecord> Files)?> GetVolumeFilesAsync(string name, string under, CancellationToken cancellationToken)
    {
        var (above, below) = VolumeRanges.Under(under);
        // One statement, so the version and the files are of one snapshot.
        var rows = await ReadAsync("""
            SELECT v.version, f.path, f.hash, f.size, f.mode FROM volumes v
            LEFT JOIN volume_files f ON f.volume = v.name AND ($all OR f.path = $p OR (f.path > $above AND f.path < $below))
            WHERE v.name = $n ORDER BY f.path
            """,
            [("$n", name), ("$all", under.Length == 0 ? 1 : 0), ("$p", under), ("$above", above), ("$below", below)],
            r => (Version: r.GetInt64(0), File: r.IsDBNull(1) ? null : new VolumeFileRecord(r.GetString(1), r.GetString(2), r.GetInt64(3), (int)r.GetInt64(4))),
            cancellationToken).ConfigureAwait(false);
        return rows.Count == 0 ? null : (rows[0].Version, rows.Where(r => r.File is not null).Select(r => r.File!).ToList());
    }

    public Task<(VolumeCommitOutcome Outcome, long Version)> CommitVolumeAsync(string name, IReadOnlyList<VolumeFileRecord> put, IReadOnlyList<string> removed, int maxFiles,
        DateTimeOffset now, CancellationToken cancellationToken) => WriteAsync<(VolumeCommitOutcome, long)>(c =>
    {
        using var version = Command(c, "SELECT version FROM volumes WHERE name = $n", ("$n", name));
        if (version.ExecuteScalar() is not long current)
        {
            return (VolumeCommitOutcome.NoVolume, 0);
        }
        // A commit over the file limit changes nothing: its own savepoint inside the group's.
        Savepoint(c, "volume_commit");
        using (var delete = Command(c, "DELETE FROM volume_files WHERE volume = $v AND path = $p", ("$v", name), ("$p", "")))
        {
            foreach (var path in removed.Concat(put.SelectMany(f => VolumeRanges.Ancestors(f.Path))))
            {
                delete.Parameters["$p"].Value = path;
                delete.ExecuteNonQuery();
            }
        }
        using (var under = Command(c, "DELETE FROM volume_files WHERE volume = $v AND path > $above AND path < $below", ("$v", name), ("$above", ""), ("$below", "")))
        using (var upsert = Command(c, """
            INSERT INTO volume_files(volume, path, hash, size, mode) VALUES($v, $p, $h, $s, $m)
            ON CONFLICT(volume, path) DO UPDATE SET hash = $h, size = $s, mode = $m
            """, ("$v", name), ("$p", ""), ("$h", ""), ("$s", 0L), ("$m", 0)))
        {
            foreach (var file in put)
            {
                (under.Parameters["$above"].Value, under.Parameters["$below"].Value) = VolumeRanges.Under(file.Path);
                under.ExecuteNonQuery();
                upsert.Parameters["$p"].Value = file.Path;
                upsert.Parameters["$h"].Value = file.Hash;
                upsert.Parameters["$s"].Value = file.Size;
                upsert.Parameters["$m"].Value = file.Mode;
                upsert.ExecuteNonQuery();
            }
        }
        if (Scalar(c, "SELECT COUNT(*) FROM volume_files WHERE volume = $v", ("$v", name)) > maxFiles)
        {
            RollBackTo(c, "volume_commit");
            return (VolumeCommitOutcome.TooManyFiles, current);
        }
        Release(c, "volume_commit");
        Execute(c, "UPDATE volumes SET version = $next, updated_at = $u WHERE name = $n", ("$next", current + 1), ("$u", Ms(now)), ("$n", name));
        return (VolumeCommitOutcome.Committed, current + 1);
    });
}
