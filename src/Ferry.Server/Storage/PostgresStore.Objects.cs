using Npgsql;

namespace Ferry.Server.Storage;

/// <summary>Secrets, Dicts and Queues on PostgreSQL. Keys are compared and ordered by byte (<c>COLLATE "C"</c>), as in SQLite.</summary>
internal sealed partial class PostgresStore
{
    /// <summary>The storage objects' schema step, appended to <see cref="Migrations"/>.</summary>
    private const string ObjectsMigration = """
        CREATE TABLE secrets(name text PRIMARY KEY, keys text NOT NULL, sealed bytea NOT NULL, ephemeral boolean NOT NULL,
            created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
        CREATE TABLE objects(kind text NOT NULL, name text NOT NULL, created_at timestamptz NOT NULL, PRIMARY KEY(kind, name));
        CREATE TABLE dict_entries(dict text NOT NULL, key text COLLATE "C" NOT NULL, value text NOT NULL, touched_at timestamptz NOT NULL,
            PRIMARY KEY(dict, key));
        CREATE INDEX dict_entries_touched ON dict_entries(touched_at);
        CREATE TABLE queue_partitions(queue text NOT NULL, partition text NOT NULL, expires_at timestamptz NOT NULL, PRIMARY KEY(queue, partition));
        CREATE TABLE queue_items(item_id bigserial PRIMARY KEY, queue text NOT NULL, partition text NOT NULL, value text NOT NULL);
        CREATE INDEX queue_items_order ON queue_items(queue, partition, item_id);
        """;

    private async Task<T> WriteAsync<T>(Func<NpgsqlConnection, Task<T>> apply, CancellationToken cancellationToken)
    {
        T result = default!;
        await WriteAsync(async c => { result = await apply(c).ConfigureAwait(false); }, cancellationToken).ConfigureAwait(false);
        return result;
    }

    private static async Task<long> ScalarAsync(NpgsqlConnection connection, string sql, params NpgsqlParameter[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddRange(parameters);
        return Convert.ToInt64(await command.ExecuteScalarAsync().ConfigureAwait(false) ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
    }

    public Task<bool> SaveSecretAsync(SecretRecord secret, bool replace, CancellationToken cancellationToken) => WriteAsync(async c =>
        await ExecuteAsync(c, replace
            ? """
              INSERT INTO secrets(name, keys, sealed, ephemeral, created_at, updated_at) VALUES(@n, @k, @s, @e, @c, @u)
              ON CONFLICT(name) DO UPDATE SET keys = excluded.keys, sealed = excluded.sealed, ephemeral = excluded.ephemeral, updated_at = excluded.updated_at
              """
            : "INSERT INTO secrets(name, keys, sealed, ephemeral, created_at, updated_at) VALUES(@n, @k, @s, @e, @c, @u) ON CONFLICT DO NOTHING",
            P("n", secret.Name), P("k", string.Join('\n', secret.Keys)), P("s", secret.Sealed), P("e", secret.Ephemeral),
            P("c", Utc(secret.CreatedAt)), P("u", Utc(secret.UpdatedAt))).ConfigureAwait(false) > 0, cancellationToken);

    public async Task<IReadOnlyList<SecretRecord>> ListSecretsAsync(CancellationToken cancellationToken) => await QueryAsync(
        "SELECT name, keys, sealed, ephemeral, created_at, updated_at FROM secrets ORDER BY name COLLATE \"C\"", [],
        r => new SecretRecord(r.GetString(0), r.GetString(1).Length == 0 ? [] : r.GetString(1).Split('\n'), (byte[])r[2], r.GetBoolean(3), Time(r, 4), Time(r, 5)),
        cancellationToken).ConfigureAwait(false);

    public Task<bool> DeleteSecretAsync(string name, CancellationToken cancellationToken) =>
        WriteAsync(async c => await ExecuteAsync(c, "DELETE FROM secrets WHERE name = @n", P("n", name)).ConfigureAwait(false) > 0, cancellationToken);

    public Task<bool> CreateObjectAsync(string kind, string name, DateTimeOffset now, CancellationToken cancellationToken) => WriteAsync(async c =>
        await ExecuteAsync(c, "INSERT INTO objects(kind, name, created_at) VALUES(@k, @n, @c) ON CONFLICT DO NOTHING",
            P("k", kind), P("n", name), P("c", Utc(now))).ConfigureAwait(false) > 0, cancellationToken);

    public async Task<ObjectRecord?> GetObjectAsync(string kind, string name, CancellationToken cancellationToken) => (await QueryAsync(
        "SELECT name, created_at FROM objects WHERE kind = @k AND name = @n", [P("k", kind), P("n", name)],
        r => new ObjectRecord(r.GetString(0), Time(r, 1)), cancellationToken).ConfigureAwait(false)).FirstOrDefault();

    public async Task<IReadOnlyList<ObjectRecord>> ListObjectsAsync(string kind, CancellationToken cancellationToken) => await QueryAsync(
        "SELECT name, created_at FROM objects WHERE kind = @k ORDER BY name COLLATE \"C\"", [P("k", kind)],
        r => new ObjectRecord(r.GetString(0), Time(r, 1)), cancellationToken).ConfigureAwait(false);

    public Task<bool> DeleteObjectAsync(string kind, string name, CancellationToken cancellationToken) => WriteAsync(async c =>
    {
        if (await ExecuteAsync(c, "DELETE FROM objects WHERE kind = @k AND name = @n", P("k", kind), P("n", name)).ConfigureAwait(false) == 0)
        {
            return false;
        }
        if (kind == ObjectKinds.Dict)
        {
            await ExecuteAsync(c, "DELETE FROM dict_entries WHERE dict = @n", P("n", name)).ConfigureAwait(false);
        }
        else
        {
            await ExecuteAsync(c, "DELETE FROM queue_items WHERE queue = @n", P("n", name)).ConfigureAwait(false);
            await ExecuteAsync(c, "DELETE FROM queue_partitions WHERE queue = @n", P("n", name)).ConfigureAwait(false);
        }
        return true;
    }, cancellationToken);

    public async Task<DictEntryRecord?> GetDictEntryAsync(string dict, string key, DateTimeOffset liveSince, CancellationToken cancellationToken) => (await QueryAsync(
        "SELECT key, value, touched_at FROM dict_entries WHERE dict = @d AND key = @k AND touched_at > @live",
        [P("d", dict), P("k", key), P("live", Utc(liveSince))],
        r => new DictEntryRecord(r.GetString(0), r.GetString(1), Time(r, 2)), cancellationToken).ConfigureAwait(false)).FirstOrDefault();

    public Task TouchDictEntryAsync(string dict, string key, DateTimeOffset now, CancellationToken cancellationToken) => WriteAsync(c => ExecuteAsync(c,
        "UPDATE dict_entries SET touched_at = @now WHERE dict = @d AND key = @k AND touched_at < @now", P("d", dict), P("k", key), P("now", Utc(now))), cancellationToken);

    public Task<int> PutDictEntriesAsync(string dict, IReadOnlyList<(string Key, string Value)> entries, bool skipIfExists, DateTimeOffset now, DateTimeOffset liveSince, CancellationToken cancellationToken) =>
        WriteAsync(async c =>
        {
            var written = 0;
            foreach (var (key, value) in entries)
            {
                written += await ExecuteAsync(c, """
                    INSERT INTO dict_entries(dict, key, value, touched_at) VALUES(@d, @k, @v, @now)
                    ON CONFLICT(dict, key) DO UPDATE SET value = excluded.value, touched_at = excluded.touched_at
                    WHERE NOT @skip OR dict_entries.touched_at <= @live
                    """, P("d", dict), P("k", key), P("v", value), P("now", Utc(now)), P("skip", skipIfExists), P("live", Utc(liveSince))).ConfigureAwait(false);
            }
            return written;
        }, cancellationToken);

    public Task<DictEntryRecord?> PopDictEntryAsync(string dict, string key, DateTimeOffset liveSince, CancellationToken cancellationToken) => WriteAsync(async c =>
    {
        await using var command = new NpgsqlCommand("DELETE FROM dict_entries WHERE dict = @d AND key = @k RETURNING key, value, touched_at", c);
        command.Parameters.AddRange(new NpgsqlParameter[] { P("d", dict), P("k", key) });
        await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
        if (!await reader.ReadAsync().ConfigureAwait(false))
        {
            return null;
        }
        var entry = new DictEntryRecord(reader.GetString(0), reader.GetString(1), Time(reader, 2));
        return entry.TouchedAt > liveSince ? entry : null;
    }, cancellationToken);

    public async Task<IReadOnlyList<DictEntryRecord>> ListDictEntriesAsync(string dict, string? afterKey, int limit, DateTimeOffset liveSince, CancellationToken cancellationToken) => await QueryAsync(
        "SELECT key, value, touched_at FROM dict_entries WHERE dict = @d AND key > @after AND touched_at > @live ORDER BY key LIMIT @limit",
        [P("d", dict), P("after", afterKey ?? ""), P("live", Utc(liveSince)), P("limit", limit)],
        r => new DictEntryRecord(r.GetString(0), r.GetString(1), Time(r, 2)), cancellationToken).ConfigureAwait(false);

    public async Task<long> CountDictEntriesAsync(string dict, DateTimeOffset liveSince, CancellationToken cancellationToken) => Convert.ToInt64(
        await ScalarAsync("SELECT COUNT(*) FROM dict_entries WHERE dict = @d AND touched_at > @live", [P("d", dict), P("live", Utc(liveSince))], cancellationToken).ConfigureAwait(false),
        System.Globalization.CultureInfo.InvariantCulture);

    public Task ClearDictAsync(string dict, CancellationToken cancellationToken) =>
        WriteAsync(c => ExecuteAsync(c, "DELETE FROM dict_entries WHERE dict = @d", P("d", dict)), cancellationToken);

    public Task<int> SweepObjectsAsync(DateTimeOffset dictCutoff, DateTimeOffset now, CancellationToken cancellationToken) => WriteAsync(async c =>
    {
        var entries = await ExecuteAsync(c, "DELETE FROM dict_entries WHERE touched_at <= @cut", P("cut", Utc(dictCutoff))).ConfigureAwait(false);
        await ExecuteAsync(c, """
            DELETE FROM queue_items i USING queue_partitions p
            WHERE p.queue = i.queue AND p.partition = i.partition AND p.expires_at <= @now
            """, P("now", Utc(now))).ConfigureAwait(false);
        return entries + await ExecuteAsync(c, "DELETE FROM queue_partitions WHERE expires_at <= @now", P("now", Utc(now))).ConfigureAwait(false);
    }, cancellationToken);

    public Task<QueuePutOutcome> PutQueueItemsAsync(string queue, string partition, IReadOnlyList<string> values, TimeSpan ttl, DateTimeOffset now, int maxItems, int maxPartitions, CancellationToken cancellationToken) =>
        WriteAsync(async c =>
        {
            if (await ScalarAsync(c, "SELECT COUNT(*) FROM objects WHERE kind = 'queue' AND name = @q", P("q", queue)).ConfigureAwait(false) == 0)
            {
                return QueuePutOutcome.NoQueue;
            }
            var live = await LivePartitionAsync(c, queue, partition, now).ConfigureAwait(false);
            if (!live && await ScalarAsync(c, "SELECT COUNT(*) FROM queue_partitions WHERE queue = @q AND expires_at > @now", P("q", queue), P("now", Utc(now))).ConfigureAwait(false) >= maxPartitions)
            {
                return QueuePutOutcome.TooManyPartitions;
            }
            var held = live ? await ScalarAsync(c, "SELECT COUNT(*) FROM queue_items WHERE queue = @q AND partition = @p", P("q", queue), P("p", partition)).ConfigureAwait(false) : 0;
            if (held + values.Count > maxItems)
            {
                return QueuePutOutcome.Full;
            }
            await ExecuteAsync(c, "INSERT INTO queue_items(queue, partition, value) SELECT @q, @p, v FROM unnest(@values) WITH ORDINALITY AS t(v, n) ORDER BY n",
                P("q", queue), P("p", partition), P("values", values.ToArray())).ConfigureAwait(false);
            await ExecuteAsync(c, """
                INSERT INTO queue_partitions(queue, partition, expires_at) VALUES(@q, @p, @expires)
                ON CONFLICT(queue, partition) DO UPDATE SET expires_at = excluded.expires_at
                """, P("q", queue), P("p", partition), P("expires", Utc(now + ttl))).ConfigureAwait(false);
            return QueuePutOutcome.Accepted;
        }, cancellationToken);

    /// <summary>Whether a partition is live; an expired one is deleted with its items on the way, so it starts empty.</summary>
    private static async Task<bool> LivePartitionAsync(NpgsqlConnection c, string queue, string partition, DateTimeOffset now)
    {
        await using (var command = new NpgsqlCommand("SELECT expires_at FROM queue_partitions WHERE queue = @q AND partition = @p", c))
        {
            command.Parameters.AddRange(new NpgsqlParameter[] { P("q", queue), P("p", partition) });
            if (await command.ExecuteScalarAsync().ConfigureAwait(false) is not DateTime expires)
            {
                return false;
            }
            if (expires > Utc(now))
            {
                return true;
            }
        }
        await ExecuteAsync(c, "DELETE FROM queue_items WHERE queue = @q AND partition = @p", P("q", queue), P("p", partition)).ConfigureAwait(false);
        await ExecuteAsync(c, "DELETE FROM queue_partitions WHERE queue = @q AND partition = @p", P("q", queue), P("p", partition)).ConfigureAwait(false);
        return false;
    }

    public Task<IReadOnlyList<QueueItemRecord>> TakeQueueItemsAsync(string queue, string partition, int max, DateTimeOffset now, CancellationToken cancellationToken) =>
        WriteAsync<IReadOnlyList<QueueItemRecord>>(async c =>
        {
            if (!await LivePartitionAsync(c, queue, partition, now).ConfigureAwait(false))
            {
                return [];
            }
            await using var command = new NpgsqlCommand("""
                DELETE FROM queue_items WHERE item_id IN (SELECT item_id FROM queue_items WHERE queue = @q AND partition = @p ORDER BY item_id LIMIT @n)
                RETURNING item_id, value
                """, c);
            command.Parameters.AddRange(new NpgsqlParameter[] { P("q", queue), P("p", partition), P("n", max) });
            await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
            var items = new List<QueueItemRecord>();
            while (await reader.ReadAsync().ConfigureAwait(false))
            {
                items.Add(new QueueItemRecord(reader.GetInt64(0), reader.GetString(1)));
            }
            items.Sort((a, b) => a.Id.CompareTo(b.Id));
            return items;
        }, cancellationToken);

    public async Task<IReadOnlyList<QueueItemRecord>> PeekQueueItemsAsync(string queue, string partition, long afterId, int limit, DateTimeOffset now, CancellationToken cancellationToken) => await QueryAsync("""
        SELECT i.item_id, i.value FROM queue_items i JOIN queue_partitions p ON p.queue = i.queue AND p.partition = i.partition
        WHERE i.queue = @q AND i.partition = @p AND i.item_id > @after AND p.expires_at > @now ORDER BY i.item_id LIMIT @limit
        """, [P("q", queue), P("p", partition), P("after", afterId), P("now", Utc(now)), P("limit", limit)],
        r => new QueueItemRecord(r.GetInt64(0), r.GetString(1)), cancellationToken).ConfigureAwait(false);

    public async Task<long> CountQueueItemsAsync(string queue, string? partition, DateTimeOffset now, CancellationToken cancellationToken) => Convert.ToInt64(await ScalarAsync("""
        SELECT COUNT(*) FROM queue_items i JOIN queue_partitions p ON p.queue = i.queue AND p.partition = i.partition
        WHERE i.queue = @q AND (@p::text IS NULL OR i.partition = @p) AND p.expires_at > @now
        """, [P("q", queue), P("p", partition), P("now", Utc(now))], cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);

    public Task ClearQueueAsync(string queue, string? partition, CancellationToken cancellationToken) => WriteAsync(async c =>
    {
        await ExecuteAsync(c, "DELETE FROM queue_items WHERE queue = @q AND (@p::text IS NULL OR partition = @p)", P("q", queue), P("p", partition)).ConfigureAwait(false);
        await ExecuteAsync(c, "DELETE FROM queue_partitions WHERE queue = @q AND (@p::text IS NULL OR partition = @p)", P("q", queue), P("p", partition)).ConfigureAwait(false);
    }, cancellationToken);
}
