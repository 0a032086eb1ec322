using Microsoft.Data.Sqlite;

namespace Ferry.Server.Storage;

/// <summary>Secrets, Dicts and Queues in the embedded store.</summary>
internal sealed partial class SqliteStore
{
    /// <summary>The storage objects' tables, created after the rest of the schema.</summary>
    private const string ObjectsSchema = """
        CREATE TABLE IF NOT EXISTS secrets(name TEXT PRIMARY KEY, keys TEXT NOT NULL, sealed BLOB NOT NULL, ephemeral INTEGER NOT NULL,
            created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS objects(kind TEXT NOT NULL, name TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY(kind, name)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS dict_entries(dict TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, touched_at INTEGER NOT NULL,
            PRIMARY KEY(dict, key)) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS dict_entries_touched ON dict_entries(touched_at);
        CREATE TABLE IF NOT EXISTS queue_partitions(queue TEXT NOT NULL, partition TEXT NOT NULL, ttl_ms INTEGER NOT NULL,
            last_put_at INTEGER NOT NULL, PRIMARY KEY(queue, partition)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS queue_items(item_id INTEGER PRIMARY KEY, queue TEXT NOT NULL, partition TEXT NOT NULL, value TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS queue_items_order ON queue_items(queue, partition, item_id);
        """;

    private async Task<T> WriteAsync<T>(Func<SqliteConnection, T> apply)
    {
        T result = default!;
        await WriteAsync(c => { result = apply(c); }).ConfigureAwait(false);
        return result;
    }

    private async Task<List<T>> ReadAsync<T>(string sql, (string Name, object? Value)[] parameters, Func<SqliteDataReader, T> read, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var rows = new List<T>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(read(reader));
        }
        return rows;
    }

    private static long Scalar(SqliteConnection c, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(c, sql, parameters);
        return Convert.ToInt64(command.ExecuteScalar() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static int Execute(SqliteConnection c, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(c, sql, parameters);
        return command.ExecuteNonQuery();
    }

    public Task<bool> SaveSecretAsync(SecretRecord secret, bool replace, CancellationToken cancellationToken) => WriteAsync(c =>
    {
        var sql = replace
            ? """
              INSERT INTO secrets(name, keys, sealed, ephemeral, created_at, updated_at) VALUES($n, $k, $s, $e, $c, $u)
              ON CONFLICT(name) DO UPDATE SET keys = $k, sealed = $s, ephemeral = $e, updated_at = $u
              """
            : "INSERT OR IGNORE INTO secrets(name, keys, sealed, ephemeral, created_at, updated_at) VALUES($n, $k, $s, $e, $c, $u)";
        return Execute(c, sql, ("$n", secret.Name), ("$k", string.Join('\n', secret.Keys)), ("$s", secret.Sealed), ("$e", secret.Ephemeral ? 1 : 0),
            ("$c", Ms(secret.CreatedAt)), ("$u", Ms(secret.UpdatedAt))) > 0;
    });

    public async Task<IReadOnlyList<SecretRecord>> ListSecretsAsync(CancellationToken cancellationToken) => await ReadAsync(
        "SELECT name, keys, sealed, ephemeral, created_at, updated_at FROM secrets ORDER BY name", [],
        r => new SecretRecord(r.GetString(0), r.GetString(1).Length == 0 ? [] : r.GetString(1).Split('\n'), (byte[])r[2], r.GetInt64(3) != 0,
            Time(r.GetInt64(4)), Time(r.GetInt64(5))),
        cancellationToken).ConfigureAwait(false);

    public Task<bool> DeleteSecretAsync(string name, CancellationToken cancellationToken) =>
        WriteAsync(c => Execute(c, "DELETE FROM secrets WHERE name = $n", ("$n", name)) > 0);

    public Task<bool> CreateObjectAsync(string kind, string name, DateTimeOffset now, CancellationToken cancellationToken) =>
        WriteAsync(c => Execute(c, "INSERT OR IGNORE INTO objects(kind, name, created_at) VALUES($k, $n, $c)", ("$k", kind), ("$n", name), ("$c", Ms(now))) > 0);

    public async Task<ObjectRecord?> GetObjectAsync(string kind, string name, CancellationToken cancellationToken) => (await ReadAsync(
        "SELECT name, created_at FROM objects WHERE kind = $k AND name = $n", [("$k", kind), ("$n", name)],
        r => new ObjectRecord(r.GetString(0), Time(r.GetInt64(1))), cancellationToken).ConfigureAwait(false)).FirstOrDefault();

    public async Task<IReadOnlyList<ObjectRecord>> ListObjectsAsync(string kind, CancellationToken cancellationToken) => await ReadAsync(
        "SELECT name, created_at FROM objects WHERE kind = $k ORDER BY name", [("$k", kind)],
        r => new ObjectRecord(r.GetString(0), Time(r.GetInt64(1))), cancellationToken).ConfigureAwait(false);

    public Task<bool> DeleteObjectAsync(string kind, string name, CancellationToken cancellationToken) => WriteAsync(c =>
    {
        if (Execute(c, "DELETE FROM objects WHERE kind = $k AND name = $n", ("$k", kind), ("$n", name)) == 0)
        {
            return false;
        }
        if (kind == ObjectKinds.Dict)
        {
            Execute(c, "DELETE FROM dict_entries WHERE dict = $n", ("$n", name));
        }
        else
        {
            Execute(c, "DELETE FROM queue_items WHERE queue = $n", ("$n", name));
            Execute(c, "DELETE FROM queue_partitions WHERE queue = $n", ("$n", name));
        }
        return true;
    });

    public async Task<DictEntryRecord?> GetDictEntryAsync(string dict, string key, DateTimeOffset liveSince, CancellationToken cancellationToken) => (await ReadAsync(
        "SELECT key, value, touched_at FROM dict_entries WHERE dict = $d AND key = $k AND touched_at > $live",
        [("$d", dict), ("$k", key), ("$live", Ms(liveSince))],
        r => new DictEntryRecord(r.GetString(0), r.GetString(1), Time(r.GetInt64(2))), cancellationToken).ConfigureAwait(false)).FirstOrDefault();

    public Task TouchDictEntryAsync(string dict, string key, DateTimeOffset now, CancellationToken cancellationToken) => WriteAsync(c =>
        Execute(c, "UPDATE dict_entries SET touched_at = $now WHERE dict = $d AND key = $k AND touched_at < $now", ("$d", dict), ("$k", key), ("$now", Ms(now))));

    public Task<int> PutDictEntriesAsync(string dict, IReadOnlyList<(string Key, string Value)> entries, bool skipIfExists, DateTimeOffset now, DateTimeOffset liveSince, CancellationToken cancellationToken) =>
        WriteAsync(c =>
        {
            using var command = Command(c, """
                INSERT INTO dict_entries(dict, key, value, touched_at) VALUES($d, $k, $v, $now)
                ON CONFLICT(dict, key) DO UPDATE SET value = excluded.value, touched_at = excluded.touched_at
                WHERE $skip = 0 OR dict_entries.touched_at <= $live
                """, ("$d", dict), ("$k", ""), ("$v", ""), ("$now", Ms(now)), ("$skip", skipIfExists ? 1 : 0), ("$live", Ms(liveSince)));
            var written = 0;
            foreach (var (key, value) in entries)
            {
                command.Parameters["$k"].Value = key;
                command.Parameters["$v"].Value = value;
                written += command.ExecuteNonQuery();
            }
            return written;
        });

    public Task<DictEntryRecord?> PopDictEntryAsync(string dict, string key, DateTimeOffset liveSince, CancellationToken cancellationToken) => WriteAsync(c =>
    {
        using var command = Command(c, "DELETE FROM dict_entries WHERE dict = $d AND key = $k RETURNING key, value, touched_at", ("$d", dict), ("$k", key));
        using var reader = command.ExecuteReader();
        if (!reader.Read())
        {
            return null;
        }
        var entry = new DictEntryRecord(reader.GetString(0), reader.GetString(1), Time(reader.GetInt64(2)));
        return entry.TouchedAt > liveSince ? entry : null;
    });

    public async Task<IReadOnlyList<DictEntryRecord>> ListDictEntriesAsync(string dict, string? afterKey, int limit, DateTimeOffset liveSince, CancellationToken cancellationToken) => await ReadAsync(
        "SELECT key, value, touched_at FROM dict_entries WHERE dict = $d AND key > $after AND touched_at > $live ORDER BY key LIMIT $limit",
        [("$d", dict), ("$after", afterKey ?? ""), ("$live", Ms(liveSince)), ("$limit", limit)],
        r => new DictEntryRecord(r.GetString(0), r.GetString(1), Time(r.GetInt64(2))), cancellationToken).ConfigureAwait(false);

    public async Task<long> CountDictEntriesAsync(string dict, DateTimeOffset liveSince, CancellationToken cancellationToken) => (await ReadAsync(
        "SELECT COUNT(*) FROM dict_entries WHERE dict = $d AND touched_at > $live", [("$d", dict), ("$live", Ms(liveSince))],
        r => r.GetInt64(0), cancellationToken).ConfigureAwait(false))[0];

    public Task ClearDictAsync(string dict, CancellationToken cancellationToken) =>
        WriteAsync(c => Execute(c, "DELETE FROM dict_entries WHERE dict = $d", ("$d", dict)));

    public Task<int> SweepObjectsAsync(DateTimeOffset dictCutoff, DateTimeOffset now, CancellationToken cancellationToken) => WriteAsync(c =>
    {
        var entries = Execute(c, "DELETE FROM dict_entries WHERE touched_at <= $cut", ("$cut", Ms(dictCutoff)));
        Execute(c, """
            DELETE FROM queue_items WHERE EXISTS (SELECT 1 FROM queue_partitions p WHERE p.queue = queue_items.queue
                AND p.partition = queue_items.partition AND p.last_put_at + p.ttl_ms <= $now)
            """, ("$now", Ms(now)));
        return entries + Execute(c, "DELETE FROM queue_partitions WHERE last_put_at + ttl_ms <= $now", ("$now", Ms(now)));
    });

    public Task<QueuePutOutcome> PutQueueItemsAsync(string queue, string partition, IReadOnlyList<string> values, TimeSpan ttl, DateTimeOffset now, int maxItems, int maxPartitions, CancellationToken cancellationToken) =>
        WriteAsync(c =>
        {
            if (Scalar(c, "SELECT COUNT(*) FROM objects WHERE kind = 'queue' AND name = $q", ("$q", queue)) == 0)
            {
                return QueuePutOutcome.NoQueue;
            }
            var live = LivePartition(c, queue, partition, now);
            if (live is null && Scalar(c, "SELECT COUNT(*) FROM queue_partitions WHERE queue = $q AND last_put_at + ttl_ms > $now", ("$q", queue), ("$now", Ms(now))) >= maxPartitions)
            {
                return QueuePutOutcome.TooManyPartitions;
            }
            var held = live is null ? 0 : Scalar(c, "SELECT COUNT(*) FROM queue_items WHERE queue = $q AND partition = $p", ("$q", queue), ("$p", partition));
            if (held + values.Count > maxItems)
            {
                return QueuePutOutcome.Full;
            }
            using (var insert = Command(c, "INSERT INTO queue_items(queue, partition, value) VALUES($q, $p, $v)", ("$q", queue), ("$p", partition), ("$v", "")))
            {
                foreach (var value in values)
                {
                    insert.Parameters["$v"].Value = value;
                    insert.ExecuteNonQuery();
                }
            }
            Execute(c, """
                INSERT INTO queue_partitions(queue, partition, ttl_ms, last_put_at) VALUES($q, $p, $ttl, $now)
                ON CONFLICT(queue, partition) DO UPDATE SET ttl_ms = $ttl, last_put_at = $now
                """, ("$q", queue), ("$p", partition), ("$ttl", (long)ttl.TotalMilliseconds), ("$now", Ms(now)));
            return QueuePutOutcome.Accepted;
        });

    /// <summary>Whether a partition is live; an expired one is deleted with its items on the way, so it starts empty.</summary>
    private static bool? LivePartition(SqliteConnection c, string queue, string partition, DateTimeOffset now)
    {
        using var command = Command(c, "SELECT last_put_at + ttl_ms FROM queue_partitions WHERE queue = $q AND partition = $p", ("$q", queue), ("$p", partition));
        if (command.ExecuteScalar() is not long expires)
        {
            return null;
        }
        if (expires > Ms(now))
        {
            return true;
        }
        Execute(c, "DELETE FROM queue_items WHERE queue = $q AND partition = $p", ("$q", queue), ("$p", partition));
        Execute(c, "DELETE FROM queue_partitions WHERE queue = $q AND partition = $p", ("$q", queue), ("$p", partition));
        return null;
    }

    public Task<IReadOnlyList<QueueItemRecord>> TakeQueueItemsAsync(string queue, string partition, int max, DateTimeOffset now, CancellationToken cancellationToken) =>
        WriteAsync<IReadOnlyList<QueueItemRecord>>(c =>
        {
            if (LivePartition(c, queue, partition, now) is null)
            {
                return [];
            }
            using var command = Command(c, """
                DELETE FROM queue_items WHERE item_id IN (SELECT item_id FROM queue_items WHERE queue = $q AND partition = $p ORDER BY item_id LIMIT $n)
                RETURNING item_id, value
                """, ("$q", queue), ("$p", partition), ("$n", max));
            using var reader = command.ExecuteReader();
            var items = new List<QueueItemRecord>();
            while (reader.Read())
            {
                items.Add(new QueueItemRecord(reader.GetInt64(0), reader.GetString(1)));
            }
            items.Sort((a, b) => a.Id.CompareTo(b.Id));
            return items;
        });

    public async Task<IReadOnlyList<QueueItemRecord>> PeekQueueItemsAsync(string queue, string partition, long afterId, int limit, DateTimeOffset now, CancellationToken cancellationToken) => await ReadAsync("""
        SELECT i.item_id, i.value FROM queue_items i JOIN queue_partitions p ON p.queue = i.queue AND p.partition = i.partition
        WHERE i.queue = $q AND i.partition = $p AND i.item_id > $after AND p.last_put_at + p.ttl_ms > $now ORDER BY i.item_id LIMIT $limit
        """, [("$q", queue), ("$p", partition), ("$after", afterId), ("$now", Ms(now)), ("$limit", limit)],
        r => new QueueItemRecord(r.GetInt64(0), r.GetString(1)), cancellationToken).ConfigureAwait(false);

    public async Task<long> CountQueueItemsAsync(string queue, string? partition, DateTimeOffset now, CancellationToken cancellationToken) => (await ReadAsync("""
        SELECT COUNT(*) FROM queue_items i JOIN queue_partitions p ON p.queue = i.queue AND p.partition = i.partition
        WHERE i.queue = $q AND ($p IS NULL OR i.partition = $p) AND p.last_put_at + p.ttl_ms > $now
        """, [("$q", queue), ("$p", partition), ("$now", Ms(now))], r => r.GetInt64(0), cancellationToken).ConfigureAwait(false))[0];

    public Task ClearQueueAsync(string queue, string? partition, CancellationToken cancellationToken) => WriteAsync(c =>
    {
        Execute(c, "DELETE FROM queue_items WHERE queue = $q AND ($p IS NULL OR partition = $p)", ("$q", queue), ("$p", partition));
        Execute(c, "DELETE FROM queue_partitions WHERE queue = $q AND ($p IS NULL OR partition = $p)", ("$q", queue), ("$p", partition));
    });
}
