using System.Text.Json;
using System.Threading.Channels;
using Ferry.Protocol;
using Npgsql;

namespace Ferry.Server.Storage;

/// <summary>
/// The store on a PostgreSQL server. Like <see cref="SqliteStore"/>, every write goes through one writer loop that
/// commits whatever has queued up in one transaction on one connection (group commit), so writes commit in the order
/// they were issued: the scheduler publishes outputs in that order. Reads take pooled connections of their own.
/// </summary>
/// <remarks>
/// Several servers may share one database (per schema, with <c>Search Path</c>): the store, not a server, numbers
/// inputs and outputs, and apps are shared out through leases (see <see cref="ILeaseStore"/>). Group commit orders
/// one server's writes; two servers' writes meet only on rows both touch, where PostgreSQL's row locks order them.
/// Times are kept to the millisecond, as in SQLite, so both stores read back the same values.
/// </remarks>
internal sealed partial class PostgresStore : IStore
{
    private const int MaxBatch = 4096;

    /// <summary>The first key of the advisory lock that serializes schema migrations.</summary>
    private const int LockClass = 0x46727279;

    private static readonly ProtocolJsonContext Json = ProtocolJsonContext.Default;

    /// <summary>The schema, one step per version; a database is brought up to the last step at start.</summary>
    private static readonly string[] Migrations =
    [
        """
        CREATE TABLE builds(build_id text PRIMARY KEY, manifest text NOT NULL);
        CREATE TABLE apps(app_id text PRIMARY KEY, name text NOT NULL, build_id text, state text NOT NULL,
            detached boolean NOT NULL, created_at timestamptz NOT NULL, stopped_at timestamptz, definition text);
        CREATE TABLE calls(call_id text PRIMARY KEY, app_id text NOT NULL, function text NOT NULL, pool_id text NOT NULL,
            kind text NOT NULL, created_at timestamptz NOT NULL, final boolean NOT NULL, pool text);
        CREATE INDEX calls_app ON calls(app_id);
        CREATE TABLE inputs(input_id bigint PRIMARY KEY, call_id text NOT NULL, idx integer NOT NULL,
            args text, args_blob text, attempt integer NOT NULL DEFAULT 0, done boolean NOT NULL DEFAULT false,
            completion_order bigint, success boolean, result text, result_blob text, error text, completed_at timestamptz,
            UNIQUE(call_id, idx));
        CREATE INDEX inputs_pending ON inputs(input_id) WHERE NOT done;
        CREATE INDEX inputs_call_order ON inputs(call_id, completion_order);
        CREATE TABLE logs(app_id text NOT NULL, seq bigint NOT NULL, time timestamptz NOT NULL, function text,
            container_id text, stream text NOT NULL, text text NOT NULL, PRIMARY KEY(app_id, seq));
        CREATE INDEX logs_container ON logs(container_id) WHERE container_id IS NOT NULL;
        CREATE INDEX logs_time ON logs(time);
        CREATE TABLE images(image_id text NOT NULL, worker_id text NOT NULL, layers integer NOT NULL, steps text NOT NULL,
            first_built_at timestamptz NOT NULL, last_used_at timestamptz NOT NULL, builds integer NOT NULL,
            last_build_seconds double precision NOT NULL, PRIMARY KEY(image_id, worker_id));
        CREATE TABLE tokens(token_id text PRIMARY KEY, name text NOT NULL, kind text NOT NULL, secret_hash text NOT NULL,
            created_at timestamptz NOT NULL, revoked_at timestamptz);
        """,
        // The store numbers things so that several servers never collide: input ids from a sequence, and each call's
        // output cursors from a counter on the call (its row lock serializes two servers completing one call's inputs);
        // an input's completion order becomes its cursor within its call. Leases and the replica registry.
        """
        CREATE SEQUENCE inputs_input_id_seq OWNED BY inputs.input_id;
        SELECT setval('inputs_input_id_seq', COALESCE((SELECT MAX(input_id) FROM inputs), 0) + 1, false);
        ALTER TABLE inputs ALTER COLUMN input_id SET DEFAULT nextval('inputs_input_id_seq');
        ALTER TABLE calls ADD COLUMN outputs bigint NOT NULL DEFAULT 0;
        UPDATE inputs i SET completion_order = r.position
            FROM (SELECT input_id, row_number() OVER (PARTITION BY call_id ORDER BY completion_order) AS position FROM inputs WHERE done) r
            WHERE i.input_id = r.input_id;
        UPDATE calls c SET outputs = x.n FROM (SELECT call_id, count(*) AS n FROM inputs WHERE done GROUP BY call_id) x WHERE c.call_id = x.call_id;
        CREATE TABLE leases(pool_id text PRIMARY KEY, replica_id text NOT NULL, epoch bigint NOT NULL, expires_at timestamptz NOT NULL);
        CREATE TABLE replicas(replica_id text PRIMARY KEY, url text NOT NULL, heartbeat_at timestamptz NOT NULL);
        -- The epoch is part of a key, so that changing hands is a key update: it waits for fenced writes (FOR KEY
        -- SHARE) to commit, and then sees them; a renewal changes no key and never waits for them.
        CREATE UNIQUE INDEX leases_epoch ON leases(pool_id, epoch);
        CREATE FUNCTION ferry_fence(lease text, replica text, lease_epoch bigint) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM 1 FROM leases WHERE pool_id = lease AND replica_id = replica AND epoch = lease_epoch FOR KEY SHARE;
            IF NOT FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'FL001', MESSAGE = 'ferry: lease lost';
            END IF;
        END $$;
        """,
        ObjectsMigration,
        DeploymentMigration,
        VolumesMigration,
        // The index of a call's outputs by cursor holds finished inputs only, so accepting an input does not write to it.
        """
        DROP INDEX IF EXISTS inputs_call_order;
        CREATE INDEX inputs_call_order ON inputs(call_id, completion_order) WHERE completion_order IS NOT NULL;
        """,
    ];

    private readonly NpgsqlDataSource _dataSource;
    private readonly string _description;
    private readonly Channel<WriteOp> _writes = Channel.CreateUnbounded<WriteOp>(new UnboundedChannelOptions { SingleReader = true });
    private Task? _writer;

    /// <param name="connectionString">An Npgsql connection string.</param>
    /// <param name="description">The store for messages, without credentials (see <see cref="StoreLocation.Describe"/>).</param>
    public PostgresStore(string connectionString, string description)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        if (builder.ConnectionStringBuilder.MaxAutoPrepare == 0)
        {
            // The same few statements run all day: prepared once per connection, they skip parsing and planning.
            builder.ConnectionStringBuilder.MaxAutoPrepare = 32;
        }
        if (!Names(connectionString, "maxpoolsize"))
        {
            // Npgsql's default of 100 is PostgreSQL's whole default max_connections: a burst of reads would starve
            // every other client of the database. Reads are short; a few connections serve them, the rest wait.
            builder.ConnectionStringBuilder.MaxPoolSize = 20;
        }
        _dataSource = builder.Build();
        _description = description;
    }

    /// <summary>Whether a connection string sets a key, in any of its spellings (<c>Max Pool Size</c>, <c>MaxPoolSize</c>).</summary>
    private static bool Names(string connectionString, string key) =>
        new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString }.Keys.Cast<string>()
            .Any(k => k.Replace(" ", "", StringComparison.Ordinal).Equals(key, StringComparison.OrdinalIgnoreCase));

    /// <summary>The newest schema version this server knows.</summary>
    internal static int SchemaVersion => Migrations.Length;

    /// <summary>Brings the schema up to date.</summary>
    /// <exception cref="StoreUnavailableException">The database cannot be reached or has a newer schema.</exception>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        try
        {
            await MigrateAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException e)
        {
            throw new StoreUnavailableException($"Cannot open the {_description}: {e.Message}", e);
        }
        _writer = Task.Factory.StartNew(WriteLoopAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    private async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        // Two servers starting on one empty database must not both create the schema.
        await using (var serialize = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@class, 0)", connection))
        {
            serialize.Parameters.Add(new NpgsqlParameter<int>("class", LockClass));
            await serialize.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await using (var create = new NpgsqlCommand("CREATE TABLE IF NOT EXISTS ferry_schema(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())", connection))
        {
            await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        int current;
        await using (var read = new NpgsqlCommand("SELECT COALESCE(MAX(version), 0) FROM ferry_schema", connection))
        {
            current = Convert.ToInt32(await read.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        }
        if (current > Migrations.Length)
        {
            throw new StoreUnavailableException($"The {_description} has schema version {current}, newer than this server's {Migrations.Length}: run a newer Ferry server.");
        }
        for (var version = current + 1; version <= Migrations.Length; version++)
        {
            await using var migrate = new NpgsqlCommand(Migrations[version - 1], connection);
            await migrate.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            await using var record = new NpgsqlCommand("INSERT INTO ferry_schema(version) VALUES(@version)", connection);
            record.Parameters.Add(new NpgsqlParameter<int>("version", version));
            await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    private delegate Task Write(NpgsqlConnection connection);

    private sealed record WriteOp(Write Apply, TaskCompletionSource Done);

    /// <summary>Queues a write; it completes once committed. A queued write is not cancelled: it commits with its group.</summary>
    private Task WriteAsync(Write apply, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var op = new WriteOp(apply, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_writes.Writer.TryWrite(op))
        {
            throw new ObjectDisposedException(nameof(PostgresStore));
        }
        return op.Done.Task;
    }

    private async Task WriteLoopAsync()
    {
        NpgsqlConnection? connection = null;
        var batch = new List<WriteOp>();
        try
        {
            while (await _writes.Reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (batch.Count < MaxBatch && _writes.Reader.TryRead(out var op))
                {
                    batch.Add(op);
                }
                try
                {
                    connection ??= await _dataSource.OpenConnectionAsync().ConfigureAwait(false);
                    var failures = await CommitAsync(connection, batch).ConfigureAwait(false);
                    foreach (var op in batch)
                    {
                        if (failures.TryGetValue(op, out var error))
                        {
                            op.Done.TrySetException(error is PostgresException { SqlState: FenceFailed }
                                ? new LeaseLostException("The lease this write was fenced by has changed hands.")
                                : error);
                        }
                        else
                        {
                            op.Done.TrySetResult();
                        }
                    }
                }
                catch (Exception e)
                {
                    foreach (var op in batch)
                    {
                        op.Done.TrySetException(e);
                    }
                    // The connection may be broken (the database restarted, the network dropped): the next group opens another.
                    if (connection is not null)
                    {
                        await connection.DisposeAsync().ConfigureAwait(false);
                        connection = null;
                    }
                }
                batch.Clear();
            }
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Commits a group in one transaction and returns the writes that failed. The group first runs without savepoints,
    /// one round trip per statement; if a statement fails, the transaction is rolled back and the group runs again with
    /// a savepoint around each write, so only the failing writes fail.
    /// </summary>
    private static async Task<Dictionary<WriteOp, Exception>> CommitAsync(NpgsqlConnection connection, List<WriteOp> batch)
    {
        await using (var transaction = await connection.BeginTransactionAsync().ConfigureAwait(false))
        {
            var failed = false;
            try
            {
                foreach (var op in batch)
                {
                    await op.Apply(connection).ConfigureAwait(false);
                }
            }
            catch (PostgresException)
            {
                failed = true;
            }
            if (!failed)
            {
                await transaction.CommitAsync().ConfigureAwait(false);
                return [];
            }
            await transaction.RollbackAsync().ConfigureAwait(false);
        }
        var failures = new Dictionary<WriteOp, Exception>();
        await using var retry = await connection.BeginTransactionAsync().ConfigureAwait(false);
        foreach (var op in batch)
        {
            await retry.SaveAsync("op").ConfigureAwait(false);
            try
            {
                await op.Apply(connection).ConfigureAwait(false);
                await retry.ReleaseAsync("op").ConfigureAwait(false);
            }
            catch (PostgresException e)
            {
                await retry.RollbackAsync("op").ConfigureAwait(false);
                failures[op] = e;
            }
        }
        await retry.CommitAsync().ConfigureAwait(false);
        return failures;
    }

    private static NpgsqlParameter<T> P<T>(string name, T value) => new(name, value);

    /// <summary>Kept to the millisecond, as the SQLite store keeps times, so both read back the same instant.</summary>
    private static DateTime Utc(DateTimeOffset time) => DateTime.UnixEpoch.AddMilliseconds(time.ToUnixTimeMilliseconds());

    private static DateTime? Utc(DateTimeOffset? time) => time is { } t ? Utc(t) : null;

    private static DateTimeOffset Time(NpgsqlDataReader reader, int ordinal) => new(reader.GetDateTime(ordinal), TimeSpan.Zero);

    private static DateTimeOffset? TimeOrNull(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : Time(reader, ordinal);

    private static string? StringOrNull(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private static async Task<int> ExecuteAsync(NpgsqlConnection connection, string sql, params NpgsqlParameter[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddRange(parameters);
        return await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    private async Task<List<T>> QueryAsync<T>(string sql, NpgsqlParameter[] parameters, Func<NpgsqlDataReader, T> read, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand(sql);
        command.Parameters.AddRange(parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var rows = new List<T>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(read(reader));
        }
        return rows;
    }

    private async Task<object?> ScalarAsync(string sql, NpgsqlParameter[] parameters, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand(sql);
        command.Parameters.AddRange(parameters);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task SaveBuildAsync(BuildManifest build, CancellationToken cancellationToken) => WriteAsync(c => ExecuteAsync(c,
        "INSERT INTO builds(build_id, manifest) VALUES(@id, @manifest) ON CONFLICT DO NOTHING",
        P("id", build.BuildId), P("manifest", JsonSerializer.Serialize(build, Json.BuildManifest))), cancellationToken);

    public async Task<BuildManifest?> GetBuildAsync(string buildId, CancellationToken cancellationToken) =>
        await ScalarAsync("SELECT manifest FROM builds WHERE build_id = @id", [P("id", buildId)], cancellationToken).ConfigureAwait(false) is string text
            ? JsonSerializer.Deserialize(text, Json.BuildManifest)
            : null;

    public Task SaveAppAsync(AppRecord app, CancellationToken cancellationToken) => WriteAsync(c => ExecuteAsync(c, """
        INSERT INTO apps(app_id, name, build_id, state, detached, created_at, stopped_at, definition)
        VALUES(@id, @name, @build, @state, @detached, @created, @stopped, @definition)
        ON CONFLICT(app_id) DO UPDATE SET name = excluded.name, build_id = excluded.build_id, state = excluded.state,
            detached = excluded.detached, stopped_at = excluded.stopped_at, definition = excluded.definition
        """,
        P("id", app.AppId), P("name", app.Name), P("build", app.BuildId), P("state", app.State), P("detached", app.Detached),
        P("created", Utc(app.CreatedAt)), P("stopped", Utc(app.StoppedAt)),
        P("definition", app.Definition is null ? null : JsonSerializer.Serialize(app.Definition, Json.AppDefinition))), cancellationToken);

    public async Task<IReadOnlyList<AppRecord>> ListAppsAsync(CancellationToken cancellationToken) => await QueryAsync(
        "SELECT app_id, name, build_id, state, detached, created_at, stopped_at, definition FROM apps ORDER BY created_at, app_id", [],
        r => new AppRecord(r.GetString(0), r.GetString(1), StringOrNull(r, 2), r.GetString(3), r.GetBoolean(4), Time(r, 5), TimeOrNull(r, 6),
            r.IsDBNull(7) ? null : JsonSerializer.Deserialize(r.GetString(7), Json.AppDefinition)),
        cancellationToken).ConfigureAwait(false);

    public Task<IReadOnlyList<long>> AddInputsAsync(CallRecord call, IReadOnlyList<NewInput> inputs, CancellationToken cancellationToken) =>
        AddInputsAsync(call, inputs, null, cancellationToken);

    public Task<IReadOnlyList<long>> AddInputsAsync(CallRecord call, IReadOnlyList<NewInput> inputs, LeaseFence? fence, CancellationToken cancellationToken)
    {
        var ids = new long[inputs.Count];
        return WriteAsync(async c =>
        {
            await CheckFenceAsync(c, fence).ConfigureAwait(false);
            await ExecuteAsync(c, """
                INSERT INTO calls(call_id, app_id, function, pool_id, kind, created_at, final, pool)
                VALUES(@id, @app, @function, @pool_id, @kind, @created, @final, @pool)
                ON CONFLICT (call_id) DO UPDATE SET final = true WHERE excluded.final AND NOT calls.final
                """,
                P("id", call.CallId), P("app", call.AppId), P("function", call.Function), P("pool_id", call.PoolId), P("kind", call.Kind),
                P("created", Utc(call.CreatedAt)), P("final", call.Final),
                P("pool", call.Pool is null ? null : JsonSerializer.Serialize(call.Pool, Json.PoolSpec))).ConfigureAwait(false);
            Array.Clear(ids);
            if (inputs.Count == 0)
            {
                return;
            }
            // One statement for the whole list, ids from the sequence in list order; an index already there is skipped.
            var inserted = new Dictionary<int, long>();
            await using (var insert = new NpgsqlCommand("""
                INSERT INTO inputs(call_id, idx, args, args_blob)
                SELECT @call, idx, args, blob FROM unnest(@indices, @args, @blobs) WITH ORDINALITY AS t(idx, args, blob, position)
                ORDER BY position
                ON CONFLICT DO NOTHING RETURNING idx, input_id
                """, c))
            {
                insert.Parameters.AddRange(new NpgsqlParameter[]
                {
                    P("call", call.CallId), P("indices", inputs.Select(i => i.Index).ToArray()),
                    P("args", inputs.Select(i => i.Args).ToArray()), P("blobs", inputs.Select(i => i.ArgsBlob).ToArray()),
                });
                await using var reader = await insert.ExecuteReaderAsync().ConfigureAwait(false);
                while (await reader.ReadAsync().ConfigureAwait(false))
                {
                    inserted[reader.GetInt32(0)] = reader.GetInt64(1);
                }
            }
            for (var i = 0; i < inputs.Count; i++)
            {
                // Remove, so a repeated index in the list gets its id once, at its first place, as in SQLite.
                ids[i] = inserted.Remove(inputs[i].Index, out var id) ? id : 0;
            }
        }, cancellationToken).ContinueWith<IReadOnlyList<long>>(task =>
        {
            task.GetAwaiter().GetResult();
            return ids;
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public Task SetFinalAsync(string callId, CancellationToken cancellationToken) => WriteAsync(c => ExecuteAsync(c,
        "UPDATE calls SET final = true WHERE call_id = @id", P("id", callId)), cancellationToken);

    public Task CompleteInputsAsync(IReadOnlyList<CompletionRecord> completions, CancellationToken cancellationToken) =>
        CompleteInputsAsync(completions, null, cancellationToken);

    public Task CompleteInputsAsync(IReadOnlyList<CompletionRecord> completions, LeaseFence? fence, CancellationToken cancellationToken) => WriteAsync(async c =>
    {
        await CheckFenceAsync(c, fence).ConfigureAwait(false);
        if (completions.Count == 0)
        {
            return;
        }
        var calls = completions.Select(d => d.CallId).Distinct(StringComparer.Ordinal).ToArray();
        // Lock the calls first (in one order, so two servers cannot deadlock on them): the next statement then starts
        // after any other server's completion of these calls has committed, and sees it.
        await ExecuteAsync(c, "SELECT 1 FROM calls WHERE call_id = ANY(@calls) ORDER BY call_id FOR UPDATE", P("calls", calls)).ConfigureAwait(false);
        await ExecuteAsync(c, """
            WITH d AS (
                SELECT DISTINCT ON (input_id) *
                FROM unnest(@ids, @calls, @successes, @results, @blobs, @errors, @times) WITH ORDINALITY
                    AS d(input_id, call_id, success, result, result_blob, error, completed_at, position)
                ORDER BY input_id, position),
            todo AS (
                SELECT d.*, c.outputs + row_number() OVER (PARTITION BY d.call_id ORDER BY d.position) AS next_cursor
                FROM d JOIN inputs i ON i.input_id = d.input_id AND i.call_id = d.call_id AND NOT i.done
                JOIN calls c ON c.call_id = d.call_id),
            updated AS (
                UPDATE inputs i SET done = true, completion_order = t.next_cursor, success = t.success, result = t.result,
                    result_blob = t.result_blob, error = t.error, completed_at = t.completed_at, args = NULL
                FROM todo t WHERE i.input_id = t.input_id
                RETURNING i.call_id)
            UPDATE calls c SET outputs = c.outputs + u.n
            FROM (SELECT call_id, count(*) AS n FROM updated GROUP BY call_id) u WHERE c.call_id = u.call_id
            """,
            P("ids", completions.Select(d => d.InputId).ToArray()), P("calls", completions.Select(d => d.CallId).ToArray()),
            P("successes", completions.Select(d => d.Success).ToArray()), P("results", completions.Select(d => d.Result).ToArray()),
            P("blobs", completions.Select(d => d.ResultBlob).ToArray()),
            P("errors", completions.Select(d => d.Error is null ? null : JsonSerializer.Serialize(d.Error, Json.RemoteError)).ToArray()),
            P("times", completions.Select(d => Utc(d.CompletedAt)).ToArray())).ConfigureAwait(false);
    }, cancellationToken);

    public Task SetAttemptAsync(long inputId, int attempt, CancellationToken cancellationToken) => WriteAsync(c => ExecuteAsync(c,
        "UPDATE inputs SET attempt = @attempt WHERE input_id = @id", P("attempt", attempt), P("id", inputId)), cancellationToken);

    public async Task<IReadOnlyList<PendingInput>> LoadPendingInputsAsync(CancellationToken cancellationToken)
    {
        var calls = new Dictionary<string, CallRecord>();
        return await QueryAsync("""
            SELECT i.input_id, i.call_id, i.idx, i.args, i.args_blob, i.attempt,
                   c.app_id, c.function, c.pool_id, c.kind, c.created_at, c.final, c.pool
            FROM inputs i JOIN calls c ON c.call_id = i.call_id
            WHERE NOT i.done ORDER BY i.input_id
            """, [], r =>
        {
            var callId = r.GetString(1);
            if (!calls.TryGetValue(callId, out var call))
            {
                call = ReadCall(r, callId, 6);
                calls[callId] = call;
            }
            return new PendingInput(new InputRecord(r.GetInt64(0), callId, r.GetInt32(2), StringOrNull(r, 3), StringOrNull(r, 4)), call, r.GetInt32(5));
        }, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<PendingInput>> LoadQueuedInputsAsync(CallRecord call, long fromId, long toId, int limit, CancellationToken cancellationToken) =>
        await QueryAsync("""
            SELECT input_id, idx, args, args_blob, attempt FROM inputs
            WHERE input_id BETWEEN @from AND @to AND NOT done AND call_id = @call
            ORDER BY input_id LIMIT @limit
            """, [P("from", fromId), P("to", toId), P("call", call.CallId), P("limit", limit)],
            r => new PendingInput(new InputRecord(r.GetInt64(0), call.CallId, r.GetInt32(1), StringOrNull(r, 2), StringOrNull(r, 3)), call, r.GetInt32(4)),
            cancellationToken).ConfigureAwait(false);

    private static CallRecord ReadCall(NpgsqlDataReader reader, string callId, int offset) => new(
        callId,
        reader.GetString(offset),
        reader.GetString(offset + 1),
        reader.GetString(offset + 2),
        reader.GetString(offset + 3),
        Time(reader, offset + 4),
        reader.GetBoolean(offset + 5),
        reader.IsDBNull(offset + 6) ? null : JsonSerializer.Deserialize(reader.GetString(offset + 6), Json.PoolSpec));

    public async Task<CallRecord?> GetCallAsync(string callId, CancellationToken cancellationToken) => (await QueryAsync(
        "SELECT app_id, function, pool_id, kind, created_at, final, pool FROM calls WHERE call_id = @id", [P("id", callId)],
        r => ReadCall(r, callId, 0), cancellationToken).ConfigureAwait(false)).SingleOrDefault();

    private static StoredOutput ReadOutput(NpgsqlDataReader reader, int offset) => new(
        reader.GetInt32(offset),
        reader.GetInt64(offset + 1),
        reader.GetBoolean(offset + 2),
        StringOrNull(reader, offset + 3),
        StringOrNull(reader, offset + 4),
        reader.IsDBNull(offset + 5) ? null : JsonSerializer.Deserialize(reader.GetString(offset + 5), Json.RemoteError));

    public async Task<(IReadOnlyList<StoredOutput> Outputs, IReadOnlyList<int> Indices)> LoadCallAsync(string callId, CancellationToken cancellationToken)
    {
        var outputs = new List<StoredOutput>();
        // NULLS FIRST: unfinished inputs come first, as SQLite sorts them.
        var indices = await QueryAsync("""
            SELECT done, idx, completion_order, success, result, result_blob, error FROM inputs
            WHERE call_id = @id ORDER BY completion_order NULLS FIRST, idx
            """, [P("id", callId)], r =>
        {
            if (r.GetBoolean(0))
            {
                outputs.Add(ReadOutput(r, 1));
            }
            return r.GetInt32(1);
        }, cancellationToken).ConfigureAwait(false);
        return (outputs, indices);
    }

    public async Task<(int Total, int Completed)> CountInputsAsync(string callId, CancellationToken cancellationToken) => (await QueryAsync(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE done) FROM inputs WHERE call_id = @id", [P("id", callId)],
        r => ((int)r.GetInt64(0), (int)r.GetInt64(1)), cancellationToken).ConfigureAwait(false)).Single();

    public async Task<int> CountFailedAsync(string callId, CancellationToken cancellationToken) => (await QueryAsync(
        "SELECT COUNT(*) FROM inputs WHERE call_id = @id AND done AND NOT success", [P("id", callId)],
        r => (int)r.GetInt64(0), cancellationToken).ConfigureAwait(false)).Single();

    public async Task<bool> WasCancelledAsync(string callId, CancellationToken cancellationToken) =>
        await ScalarAsync("SELECT EXISTS(SELECT 1 FROM inputs WHERE call_id = @id AND done AND error::jsonb ->> 'kind' = @kind)",
            [P("id", callId), P("kind", ErrorKinds.Cancelled)], cancellationToken).ConfigureAwait(false) is true;

    public async Task<IReadOnlyList<StoredOutput>> GetOutputsAsync(string callId, long after, int limit, CancellationToken cancellationToken) => await QueryAsync("""
        SELECT idx, completion_order, success, result, result_blob, error FROM inputs
        WHERE call_id = @id AND done AND completion_order > @after ORDER BY completion_order LIMIT @limit
        """, [P("id", callId), P("limit", (long)limit), P("after", after)], r => ReadOutput(r, 0), cancellationToken).ConfigureAwait(false);

    public Task<(int Calls, int Apps)> DeleteExpiredAsync(DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        var deleted = (Calls: 0, Apps: 0);
        var done = WriteAsync(async c =>
        {
            var at = Utc(cutoff);
            var calls = new List<string>();
            await using (var select = new NpgsqlCommand("""
                SELECT call_id FROM calls c
                WHERE c.app_id IN (SELECT app_id FROM apps WHERE state = @stopped AND stopped_at < @cutoff)
                   OR (c.final AND c.created_at < @cutoff
                       AND NOT EXISTS (SELECT 1 FROM inputs i WHERE i.call_id = c.call_id AND (NOT i.done OR i.completed_at >= @cutoff)))
                LIMIT @batch
                """, c))
            {
                select.Parameters.AddRange(new NpgsqlParameter[] { P("stopped", AppStates.Stopped), P("cutoff", at), P("batch", IRetentionStore.ExpiredCallsPerBatch) });
                await using var reader = await select.ExecuteReaderAsync().ConfigureAwait(false);
                while (await reader.ReadAsync().ConfigureAwait(false))
                {
                    calls.Add(reader.GetString(0));
                }
            }
            var ids = calls.ToArray();
            await ExecuteAsync(c, "DELETE FROM inputs WHERE call_id = ANY(@calls)", P("calls", ids)).ConfigureAwait(false);
            await ExecuteAsync(c, "DELETE FROM calls WHERE call_id = ANY(@calls)", P("calls", ids)).ConfigureAwait(false);
            // An expired app goes with the batch that takes its last call, so no call outlives its app.
            var apps = new List<string>();
            await using (var gone = new NpgsqlCommand("""
                DELETE FROM apps a WHERE state = @stopped AND stopped_at < @cutoff
                    AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.app_id = a.app_id)
                RETURNING app_id
                """, c))
            {
                gone.Parameters.AddRange(new NpgsqlParameter[] { P("stopped", AppStates.Stopped), P("cutoff", at) });
                await using var reader = await gone.ExecuteReaderAsync().ConfigureAwait(false);
                while (await reader.ReadAsync().ConfigureAwait(false))
                {
                    apps.Add(reader.GetString(0));
                }
            }
            await ExecuteAsync(c, "DELETE FROM logs WHERE time < @cutoff OR app_id = ANY(@apps)", P("cutoff", at), P("apps", apps.ToArray())).ConfigureAwait(false);
            deleted = (calls.Count, apps.Count);
        }, cancellationToken);
        return done.ContinueWith(task =>
        {
            task.GetAwaiter().GetResult();
            return deleted;
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public async Task<long> MaxLogSeqAsync(string appId, CancellationToken cancellationToken) =>
        (long)(await ScalarAsync("SELECT COALESCE(MAX(seq), 0) FROM logs WHERE app_id = @app", [P("app", appId)], cancellationToken).ConfigureAwait(false))!;

    public Task AppendLogsAsync(string appId, IReadOnlyList<LogEntry> entries, CancellationToken cancellationToken) => WriteAsync(c => entries.Count == 0
        ? Task.CompletedTask
        : ExecuteAsync(c, """
            INSERT INTO logs(app_id, seq, time, function, container_id, stream, text)
            SELECT @app, seq, time, function, container_id, stream, text
            FROM unnest(@seqs, @times, @functions, @containers, @streams, @texts) AS t(seq, time, function, container_id, stream, text)
            ON CONFLICT DO NOTHING
            """,
            P("app", appId), P("seqs", entries.Select(e => e.Seq).ToArray()), P("times", entries.Select(e => Utc(e.Time)).ToArray()),
            P("functions", entries.Select(e => e.Function).ToArray()), P("containers", entries.Select(e => e.ContainerId).ToArray()),
            P("streams", entries.Select(e => e.Stream).ToArray()),
            // PostgreSQL's text cannot hold U+0000, which a container may well print; it becomes U+FFFD.
            P("texts", entries.Select(e => e.Text.Replace('\0', '\uFFFD')).ToArray())), cancellationToken);

    public async Task<IReadOnlyList<LogEntry>> GetLogsAsync(string appId, long after, int limit, CancellationToken cancellationToken) => await QueryAsync(
        "SELECT seq, time, function, container_id, stream, text FROM logs WHERE app_id = @app AND seq > @after ORDER BY seq LIMIT @limit",
        [P("app", appId), P("after", after), P("limit", (long)limit)],
        r => new LogEntry(r.GetInt64(0), Time(r, 1), r.GetString(4), r.GetString(5), StringOrNull(r, 2), StringOrNull(r, 3)),
        cancellationToken).ConfigureAwait(false);

    public async Task<string?> FindAppOfContainerAsync(string containerId, CancellationToken cancellationToken) =>
        await ScalarAsync("SELECT app_id FROM logs WHERE container_id = @id LIMIT 1", [P("id", containerId)], cancellationToken).ConfigureAwait(false) as string;

    public Task RecordImageAsync(string workerId, ImageBuilt image, DateTimeOffset at, CancellationToken cancellationToken) => WriteAsync(c => ExecuteAsync(c, """
        INSERT INTO images(image_id, worker_id, layers, steps, first_built_at, last_used_at, builds, last_build_seconds)
        VALUES(@id, @worker, @layers, @steps, @at, @at, @built, @seconds)
        ON CONFLICT(image_id, worker_id) DO UPDATE SET last_used_at = excluded.last_used_at, builds = images.builds + excluded.builds,
            last_build_seconds = CASE WHEN excluded.builds > 0 THEN excluded.last_build_seconds ELSE images.last_build_seconds END
        """,
        P("id", image.ImageId), P("worker", workerId), P("layers", image.Layers),
        P("steps", JsonSerializer.Serialize(image.Description.ToList(), Json.ListString)), P("at", Utc(at)),
        P("built", image.BuiltLayers > 0 ? 1 : 0), P("seconds", image.Seconds)), cancellationToken);

    public async Task<IReadOnlyList<ImageSummary>> ListImagesAsync(CancellationToken cancellationToken) => await QueryAsync(
        "SELECT image_id, worker_id, layers, steps, first_built_at, last_used_at, builds, last_build_seconds FROM images ORDER BY last_used_at DESC, image_id, worker_id", [],
        r => new ImageSummary(r.GetString(0), r.GetString(1), r.GetInt32(2), JsonSerializer.Deserialize(r.GetString(3), Json.ListString) ?? [],
            Time(r, 4), Time(r, 5), r.GetInt32(6), r.GetDouble(7)),
        cancellationToken).ConfigureAwait(false);

    public Task SaveTokenAsync(TokenRecord token, CancellationToken cancellationToken) => WriteAsync(c => ExecuteAsync(c, """
        INSERT INTO tokens(token_id, name, kind, secret_hash, created_at, revoked_at) VALUES(@id, @name, @kind, @hash, @created, @revoked)
        ON CONFLICT(token_id) DO UPDATE SET revoked_at = excluded.revoked_at
        """,
        P("id", token.TokenId), P("name", token.Name), P("kind", token.Kind), P("hash", token.SecretHash),
        P("created", Utc(token.CreatedAt)), P("revoked", Utc(token.RevokedAt))), cancellationToken);

    public async Task<IReadOnlyList<TokenRecord>> ListTokensAsync(CancellationToken cancellationToken) => await QueryAsync(
        "SELECT token_id, name, kind, secret_hash, created_at, revoked_at FROM tokens ORDER BY created_at, token_id", [],
        r => new TokenRecord(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), Time(r, 4), TimeOrNull(r, 5)),
        cancellationToken).ConfigureAwait(false);

    public async ValueTask DisposeAsync()
    {
        _writes.Writer.TryComplete();
        if (_writer is not null)
        {
            await _writer.ConfigureAwait(false);
        }
        await _dataSource.DisposeAsync().ConfigureAwait(false);
    }
}
