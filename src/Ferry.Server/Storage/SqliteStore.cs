using System.Text.Json;
using System.Threading.Channels;
using Ferry.Protocol;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Ferry.Server.Storage;

/// <summary>
/// The embedded store: one SQLite file in WAL mode. All writes go through one writer loop that commits whatever has
/// queued up in a single transaction (group commit), so a map of many inputs costs few commits and a lone call costs
/// one. With <c>synchronous=NORMAL</c> in WAL mode a committed write survives the process being killed.
/// </summary>
internal sealed partial class SqliteStore : IStore
{
    private static readonly ProtocolJsonContext Json = ProtocolJsonContext.Default;
    private readonly string _connectionString;
    private readonly Channel<WriteOp> _writes = Channel.CreateUnbounded<WriteOp>(new UnboundedChannelOptions { SingleReader = true });
    private Task? _writer;
    private Task? _checkpointer;

    /// <summary>
    /// Set after each checkpoint beside the writer. The log starts over, and is truncated, only at a commit that finds
    /// every frame in it copied to the database file; commits made while that checkpoint ran are not, so under a
    /// steady stream of commits the log never started over and grew by every commit (90 MB a second during warm
    /// calls). The writer copies those few frames itself once it has nothing queued, or once the log is twice the
    /// checkpoint size, and the next commit starts the log over.
    /// </summary>
    private volatile bool _catchUpDue;

    // Released when the write-ahead log has grown by the checkpoint size since the writer last asked; see CheckpointLoop.
    private readonly SemaphoreSlim _logGrew = new(0, 1);
    private volatile bool _disposing;

    /// <summary>
    /// How many pages of write-ahead log ask for a checkpoint, unless a test gives another: ten times SQLite's own
    /// default. Each checkpoint ends with the writer copying, once idle, what was committed while it ran (see
    /// <see cref="_catchUpDue"/>), which holds a write that arrives then for up to about 20 ms. At 1,000 pages that
    /// was one warm call in about 90 (p99 4.7 ms); at 10,000, one in about 900 (p99 1.3-1.5 ms), and the log peaks
    /// near 45 MB.
    /// </summary>
    internal const int DefaultCheckpointPages = 10_000;
    private readonly int _checkpointPages;
    private readonly string _logPath;
    // Set once the writer knows the page size; only the writer uses it.
    private CheckpointMark _checkpointMark = new(long.MaxValue);
    // The log's length after the writer's last commit; only the writer uses it.
    private long _logLength;

    public SqliteStore(string path, int checkpointPages = DefaultCheckpointPages)
    {
        _checkpointPages = checkpointPages;
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true, DefaultTimeout = 30 }.ToString();
        _logPath = path + "-wal";
    }

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, """
            PRAGMA auto_vacuum=INCREMENTAL;
            PRAGMA journal_mode=WAL;
            CREATE TABLE IF NOT EXISTS builds(build_id TEXT PRIMARY KEY, manifest TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS apps(app_id TEXT PRIMARY KEY, name TEXT NOT NULL, build_id TEXT, state TEXT NOT NULL,
                detached INTEGER NOT NULL, created_at INTEGER NOT NULL, stopped_at INTEGER, definition TEXT);
            CREATE TABLE IF NOT EXISTS calls(call_id TEXT PRIMARY KEY, app_id TEXT NOT NULL, function TEXT NOT NULL, pool_id TEXT NOT NULL,
                kind TEXT NOT NULL, created_at INTEGER NOT NULL, final INTEGER NOT NULL, pool TEXT);
            CREATE TABLE IF NOT EXISTS inputs(input_id INTEGER PRIMARY KEY, call_id TEXT NOT NULL, idx INTEGER NOT NULL,
                args TEXT, args_blob TEXT, attempt INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0,
                completion_order INTEGER, success INTEGER, result TEXT, result_blob TEXT, error TEXT, completed_at INTEGER,
                UNIQUE(call_id, idx));
            CREATE INDEX IF NOT EXISTS inputs_pending ON inputs(done) WHERE done = 0;
            CREATE INDEX IF NOT EXISTS inputs_call_order ON inputs(call_id, completion_order);
            CREATE TABLE IF NOT EXISTS logs(app_id TEXT NOT NULL, seq INTEGER NOT NULL, time INTEGER NOT NULL, function TEXT,
                container_id TEXT, stream TEXT NOT NULL, text TEXT NOT NULL, PRIMARY KEY(app_id, seq)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS logs_container ON logs(container_id) WHERE container_id IS NOT NULL;
            CREATE TABLE IF NOT EXISTS images(image_id TEXT NOT NULL, worker_id TEXT NOT NULL, layers INTEGER NOT NULL,
                steps TEXT NOT NULL, first_built_at INTEGER NOT NULL, last_used_at INTEGER NOT NULL, builds INTEGER NOT NULL,
                last_build_seconds REAL NOT NULL, PRIMARY KEY(image_id, worker_id));
            CREATE TABLE IF NOT EXISTS tokens(token_id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,
                secret_hash TEXT NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER);
            """, cancellationToken).ConfigureAwait(false);
        await MigrateAsync(connection, cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, ObjectsSchema, cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, DeploymentSchema, cancellationToken).ConfigureAwait(false);
        _writer = Task.Factory.StartNew(WriteLoopAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        var checkpoints = await OpenAsync(cancellationToken).ConfigureAwait(false);
        _checkpointer = Task.Factory.StartNew(() => CheckpointLoop(checkpoints), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>
    /// Checkpoints the write-ahead log into the database file on a connection and a thread of its own, when the
    /// writer's commits have grown it by the checkpoint size (<see cref="DefaultCheckpointPages"/>). SQLite would
    /// otherwise checkpoint inside the commit that crosses that size, and a checkpoint syncs both files: on a slow disk
    /// that held one commit in a hundred for milliseconds, and with it the call waiting on it. A passive checkpoint
    /// beside the writer takes no lock the writer needs. What is durable when is unchanged: commits reach the log as
    /// before, and the log is synced at each checkpoint. The writer copies what was committed meanwhile
    /// (<see cref="_catchUpDue"/>). The thread is its own because a writer busy without a pause could keep a
    /// checkpoint woken on the thread pool from running, and the log then grew without one.
    /// </summary>
    private void CheckpointLoop(SqliteConnection connection)
    {
        using var owned = connection;
        while (true)
        {
            _logGrew.Wait();
            if (_disposing)
            {
                return;
            }
            try
            {
                using var checkpoint = connection.CreateCommand();
                checkpoint.CommandText = "PRAGMA wal_checkpoint(PASSIVE);";
                checkpoint.ExecuteNonQuery();
                _catchUpDue = true;
            }
            catch (SqliteException)
            {
                // A checkpoint that cannot run now runs at the next signal; the log only grows meanwhile.
            }
        }
    }

    /// <summary>
    /// After each of the writer's commits: asks for a checkpoint once the log has grown by the checkpoint size
    /// since the writer last asked (see <see cref="CheckpointMark"/>).
    /// </summary>
    private void OnCommitted()
    {
        var log = new FileInfo(_logPath);
        _logLength = log.Exists ? log.Length : 0;
        if (_logGrew.CurrentCount == 0 && _checkpointMark.Reached(_logLength))
        {
            try
            {
                _logGrew.Release();
            }
            catch (SemaphoreFullException)
            {
            }
        }
    }

    /// <summary>
    /// The steps after the base schema above, one per version, recorded in <c>PRAGMA user_version</c>. Step 1: each
    /// call counts its outputs, and an input's completion order becomes its cursor within its call (it was a global
    /// counter the server kept), so the store assigns cursors; leases and the replica registry. Step 2: volumes. Steps 3
    /// and 4: the index of a call's outputs by cursor holds finished inputs only, so accepting an input no longer writes
    /// to it (an input accepted had an entry there with no cursor, moved when it finished); each call gets an integer
    /// key, and its inputs and their indexes name the call by it instead of by its 27-character id (see
    /// <see cref="CallKeyMigration"/>).
    /// </summary>
    private static readonly string[] Migrations =
    [
        """
        ALTER TABLE calls ADD COLUMN outputs INTEGER NOT NULL DEFAULT 0;
        UPDATE inputs SET completion_order = r.position
            FROM (SELECT input_id, ROW_NUMBER() OVER (PARTITION BY call_id ORDER BY completion_order) AS position FROM inputs WHERE done = 1) AS r
            WHERE inputs.input_id = r.input_id;
        UPDATE calls SET outputs = (SELECT COUNT(*) FROM inputs i WHERE i.call_id = calls.call_id AND i.done = 1);
        CREATE TABLE leases(pool_id TEXT PRIMARY KEY, replica_id TEXT NOT NULL, epoch INTEGER NOT NULL, expires_at INTEGER NOT NULL);
        CREATE TABLE replicas(replica_id TEXT PRIMARY KEY, url TEXT NOT NULL, heartbeat_at INTEGER NOT NULL);
        """,
        VolumesMigration,
        OutputIndexMigration,
        CallKeyMigration,
    ];

    // Step 4 rebuilds the inputs with this index as it now is: building it here too would index every stored input
    // once more at an upgrade, only for step 4 to drop it with the old table.
    private const string OutputIndexMigration = "DROP INDEX IF EXISTS inputs_call_order;";

    /// <summary>
    /// Inputs name their call by an integer key, <c>calls.call_key</c>: the call's id was in every input's row and in
    /// both of its indexes, about 80 of the 170 bytes an input took once finished, and each index lookup compared it as
    /// a string. Both tables are rebuilt; the key is the call's row id, now declared, so no vacuum can renumber it.
    /// </summary>
    private const string CallKeyMigration = """
        CREATE TABLE calls_keyed(call_key INTEGER PRIMARY KEY, call_id TEXT NOT NULL UNIQUE, app_id TEXT NOT NULL,
            function TEXT NOT NULL, pool_id TEXT NOT NULL, kind TEXT NOT NULL, created_at INTEGER NOT NULL,
            final INTEGER NOT NULL, pool TEXT, outputs INTEGER NOT NULL DEFAULT 0);
        INSERT INTO calls_keyed(call_id, app_id, function, pool_id, kind, created_at, final, pool, outputs)
            SELECT call_id, app_id, function, pool_id, kind, created_at, final, pool, outputs FROM calls ORDER BY rowid;
        CREATE TABLE inputs_keyed(input_id INTEGER PRIMARY KEY, call_key INTEGER NOT NULL, idx INTEGER NOT NULL,
            args TEXT, args_blob TEXT, attempt INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0,
            completion_order INTEGER, success INTEGER, result TEXT, result_blob TEXT, error TEXT, completed_at INTEGER,
            UNIQUE(call_key, idx));
        INSERT INTO inputs_keyed(input_id, call_key, idx, args, args_blob, attempt, done, completion_order, success, result,
                result_blob, error, completed_at)
            SELECT i.input_id, c.call_key, i.idx, i.args, i.args_blob, i.attempt, i.done, i.completion_order, i.success,
                i.result, i.result_blob, i.error, i.completed_at
            FROM inputs i JOIN calls_keyed c ON c.call_id = i.call_id;
        DROP TABLE inputs;
        DROP TABLE calls;
        ALTER TABLE calls_keyed RENAME TO calls;
        ALTER TABLE inputs_keyed RENAME TO inputs;
        CREATE INDEX inputs_pending ON inputs(done) WHERE done = 0;
        CREATE INDEX inputs_call_order ON inputs(call_key, completion_order) WHERE completion_order IS NOT NULL;
        """;

    /// <summary>A call's key, for a statement that takes the call's id as <c>$id</c>.</summary>
    private const string KeyOfCall = "(SELECT call_key FROM calls WHERE call_id = $id)";

    /// <summary>The newest schema version this server knows.</summary>
    internal static int SchemaVersion => Migrations.Length;

    private static async Task MigrateAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        long current;
        await using (var read = connection.CreateCommand())
        {
            read.Transaction = transaction;
            read.CommandText = "PRAGMA user_version";
            current = (long)(await read.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }
        if (current > Migrations.Length)
        {
            throw new StoreUnavailableException($"The SQLite store has schema version {current}, newer than this server's {Migrations.Length}: run a newer Ferry server.");
        }
        for (var version = (int)current + 1; version <= Migrations.Length; version++)
        {
            await using var migrate = connection.CreateCommand();
            migrate.Transaction = transaction;
            migrate.CommandText = Migrations[version - 1] + $"\nPRAGMA user_version = {version};";
            await migrate.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, "PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;", cancellationToken).ConfigureAwait(false);
        return connection;
    }

    private static async Task ExecuteAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A write waiting for the writer. <see cref="Error"/> is set when it failed; <see cref="Done"/> runs its
    /// continuations synchronously, so the writer decides where they run (see <see cref="Finish"/>).
    /// </summary>
    private sealed class WriteOp(Action<SqliteConnection> apply)
    {
        public Action<SqliteConnection> Apply { get; } = apply;
        public TaskCompletionSource Done { get; } = new();
        public Exception? Error { get; set; }
    }

    // Writes queued and not yet taken by the writer.
    private int _queuedWrites;

    private Task WriteAsync(Action<SqliteConnection> apply)
    {
        var op = new WriteOp(apply);
        Interlocked.Increment(ref _queuedWrites);
        if (!_writes.Writer.TryWrite(op))
        {
            Interlocked.Decrement(ref _queuedWrites);
            throw new ObjectDisposedException(nameof(SqliteStore));
        }
        return op.Done.Task;
    }

    /// <summary>
    /// Tells the writers of a committed batch, in commit order. A lone write with nothing queued behind it (a warm
    /// call's) resumes its writer on this thread, which saves a hand-off to the thread pool on the call's path;
    /// otherwise the batch is acknowledged on the thread pool, so the next batch does not wait for its writers.
    /// </summary>
    private void Finish(List<WriteOp> batch)
    {
        if (batch.Count == 1 && Volatile.Read(ref _queuedWrites) == 0)
        {
            Complete(batch[0]);
            return;
        }
        ThreadPool.UnsafeQueueUserWorkItem(CompleteAll, batch.ToArray(), preferLocal: false);
    }

    private static void CompleteAll(WriteOp[] batch)
    {
        foreach (var op in batch)
        {
            Complete(op);
        }
    }

    private static void Complete(WriteOp op)
    {
        if (op.Error is null)
        {
            op.Done.TrySetResult();
        }
        else
        {
            op.Done.TrySetException(op.Error);
        }
    }

    /// <summary>The last input id assigned; only the writer moves it, inside its transaction.</summary>
    private long _lastInputId;

    /// <summary>
    /// The writer's hot statements, prepared once on its connection and bound by position (see
    /// <see cref="SqliteRawStatement"/>): preparing costs more than running them, and a map runs them once per input.
    /// Only the writer loop touches them.
    /// </summary>
    private readonly Dictionary<string, SqliteRawStatement> _raw = new(StringComparer.Ordinal);

    private SqliteRawStatement Raw(SqliteConnection connection, string sql)
    {
        if (!_raw.TryGetValue(sql, out var statement))
        {
            _raw[sql] = statement = new SqliteRawStatement(connection, sql);
        }
        return statement;
    }

    private async Task WriteLoopAsync()
    {
        await using var connection = await OpenAsync(CancellationToken.None).ConfigureAwait(false);
        // Replaces the automatic checkpoint of this connection's commits: CheckpointLoop runs it beside the writer.
        await ExecuteAsync(connection, "PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=0;", CancellationToken.None).ConfigureAwait(false);
        await using (var pageSize = connection.CreateCommand())
        {
            pageSize.CommandText = "PRAGMA page_size";
            // Each frame of the log is a page and a 24-byte header.
            _checkpointMark = new CheckpointMark(_checkpointPages * ((long)(await pageSize.ExecuteScalarAsync().ConfigureAwait(false))! + 24));
        }
        await using (var max = connection.CreateCommand())
        {
            max.CommandText = "SELECT COALESCE(MAX(input_id), 0) FROM inputs";
            _lastInputId = (long)(await max.ExecuteScalarAsync().ConfigureAwait(false))!;
        }
        try
        {
            await WriteBatchesAsync(connection).ConfigureAwait(false);
        }
        finally
        {
            // Finalized before the connection closes, which it cannot while they are open.
            foreach (var statement in _raw.Values)
            {
                statement.Dispose();
            }
            _raw.Clear();
        }
    }

    private async Task WriteBatchesAsync(SqliteConnection connection)
    {
        var batch = new List<WriteOp>();
        while (await _writes.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (batch.Count < 4096 && _writes.Reader.TryRead(out var op))
            {
                batch.Add(op);
                Interlocked.Decrement(ref _queuedWrites);
            }
            try
            {
                Run(connection, "BEGIN IMMEDIATE");
                if (batch.Count == 1)
                {
                    // Alone in its transaction, an operation needs no savepoint: if it fails, nothing is committed.
                    batch[0].Apply(connection);
                }
                else
                {
                    foreach (var op in batch)
                    {
                        Savepoint(connection, "op");
                        try
                        {
                            op.Apply(connection);
                            Release(connection, "op");
                        }
                        catch (Exception e) when (e is SqliteException or LeaseLostException)
                        {
                            RollBackTo(connection, "op");
                            op.Error = e;
                        }
                    }
                }
                Run(connection, "COMMIT");
            }
            catch (Exception e)
            {
                RollBack(connection);
                foreach (var op in batch)
                {
                    op.Error = e;
                }
            }
            Finish(batch);
            OnCommitted();
            batch.Clear();
            // Idle, so no write waits for it; or the log is twice the checkpoint size, as under writes that never pause.
            if (_catchUpDue && (Volatile.Read(ref _queuedWrites) == 0 || _checkpointMark.Overdue(_logLength)))
            {
                _catchUpDue = false;
                CatchUp(connection);
            }
        }
    }

    /// <summary>
    /// Runs one of the writer's transaction statements. They are prepared once, like the per-row statements: a
    /// Microsoft.Data.Sqlite transaction object prepares BEGIN and COMMIT anew each time, which cost about a third of a
    /// lone write's time on the writer (a warm call makes two). So the writer's commands run with no transaction
    /// object, inside the transaction opened here.
    /// </summary>
    private void Run(SqliteConnection connection, string sql) => Raw(connection, sql).Execute();

    /// <summary>
    /// Copies into the database file the frames committed since the checkpoint beside the writer started, so the next
    /// commit can start the log over. A reader still using the log keeps it from completing; the next checkpoint tries
    /// again.
    /// </summary>
    private void CatchUp(SqliteConnection connection)
    {
        try
        {
            Run(connection, "PRAGMA wal_checkpoint(PASSIVE)");
        }
        catch (SqliteException)
        {
            // As for the checkpoint beside the writer: the log only grows until the next one.
        }
    }

    /// <summary>Ends a failed transaction, unless SQLite has rolled it back itself (after an I/O error, say).</summary>
    private void RollBack(SqliteConnection connection)
    {
        if (raw.sqlite3_get_autocommit(connection.Handle) != 0)
        {
            return;
        }
        try
        {
            Run(connection, "ROLLBACK");
        }
        catch (SqliteException)
        {
            // The batch's writers are told it failed; a connection left unusable fails the next BEGIN the same way.
        }
    }

    /// <summary>Opens a savepoint inside the writer's transaction, so one part of it can be undone alone.</summary>
    private void Savepoint(SqliteConnection connection, string name) => Run(connection, "SAVEPOINT " + name);

    /// <summary>Keeps what was written since the savepoint, as part of the enclosing transaction.</summary>
    private void Release(SqliteConnection connection, string name) => Run(connection, "RELEASE " + name);

    /// <summary>Undoes what was written since the savepoint, and closes it.</summary>
    private void RollBackTo(SqliteConnection connection, string name)
    {
        Run(connection, "ROLLBACK TO " + name);
        Release(connection, name);
    }

    private static SqliteCommand Command(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
        return command;
    }

    private static long Ms(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    private static DateTimeOffset Time(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    public Task SaveBuildAsync(BuildManifest build, CancellationToken cancellationToken) => WriteAsync(c =>
    {
        using var command = Command(c, "INSERT OR IGNORE INTO builds(build_id, manifest) VALUES($id, $m)",
            ("$id", build.BuildId), ("$m", JsonSerializer.Serialize(build, Json.BuildManifest)));
        command.ExecuteNonQuery();
    });

    public async Task<BuildManifest?> GetBuildAsync(string buildId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT manifest FROM builds WHERE build_id = $id";
        command.Parameters.AddWithValue("$id", buildId);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is string text
            ? JsonSerializer.Deserialize(text, Json.BuildManifest)
            : null;
    }

    public Task SaveAppAsync(AppRecord app, CancellationToken cancellationToken) => WriteAsync(c =>
    {
        using var command = Command(c, """
            INSERT INTO apps(app_id, name, build_id, state, detached, created_at, stopped_at, definition)
            VALUES($id, $name, $build, $state, $detached, $created, $stopped, $def)
            ON CONFLICT(app_id) DO UPDATE SET name=$name, build_id=$build, state=$state, detached=$detached,
                stopped_at=$stopped, definition=$def
            """,
            ("$id", app.AppId), ("$name", app.Name), ("$build", app.BuildId), ("$state", app.State), ("$detached", app.Detached ? 1 : 0),
            ("$created", Ms(app.CreatedAt)), ("$stopped", app.StoppedAt is { } s ? Ms(s) : null),
            ("$def", app.Definition is null ? null : JsonSerializer.Serialize(app.Definition, Json.AppDefinition)));
        command.ExecuteNonQuery();
    });

    public async Task<IReadOnlyList<AppRecord>> ListAppsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT app_id, name, build_id, state, detached, created_at, stopped_at, definition FROM apps ORDER BY created_at";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var apps = new List<AppRecord>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            apps.Add(new AppRecord(
                reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetString(3),
                reader.GetInt64(4) != 0, Time(reader.GetInt64(5)), reader.IsDBNull(6) ? null : Time(reader.GetInt64(6)),
                reader.IsDBNull(7) ? null : JsonSerializer.Deserialize(reader.GetString(7), Json.AppDefinition)));
        }
        return apps;
    }

    public Task<IReadOnlyList<long>> AddInputsAsync(CallRecord call, IReadOnlyList<NewInput> inputs, CancellationToken cancellationToken) =>
        AddInputsAsync(call, inputs, null, cancellationToken);

    public Task<IReadOnlyList<long>> AddInputsAsync(CallRecord call, IReadOnlyList<NewInput> inputs, LeaseFence? fence, CancellationToken cancellationToken)
    {
        var ids = new long[inputs.Count];
        return WriteAsync(c =>
        {
            CheckFence(c, fence);
            var upsert = Raw(c, """
                INSERT INTO calls(call_id, app_id, function, pool_id, kind, created_at, final, pool)
                VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                ON CONFLICT(call_id) DO UPDATE SET final = 1 WHERE excluded.final = 1 AND final = 0
                """);
            upsert.Bind(1, call.CallId);
            upsert.Bind(2, call.AppId);
            upsert.Bind(3, call.Function);
            upsert.Bind(4, call.PoolId);
            upsert.Bind(5, call.Kind);
            upsert.Bind(6, Ms(call.CreatedAt));
            upsert.Bind(7, call.Final ? 1 : 0);
            upsert.Bind(8, call.Pool is null ? null : JsonSerializer.Serialize(call.Pool, Json.PoolSpec));
            upsert.Execute();
            var key = Raw(c, "SELECT call_key FROM calls WHERE call_id = ?1");
            key.Bind(1, call.CallId);
            // The single writer assigns ids inside its transaction, after the largest it has seen; one rolled back
            // leaves a gap, never a repeat.
            var insert = Raw(c, """
                INSERT INTO inputs(input_id, call_key, idx, args, args_blob) VALUES(?1, ?2, ?3, ?4, ?5)
                ON CONFLICT(call_key, idx) DO NOTHING
                """);
            insert.Bind(2, key.ExecuteScalarInt64()!.Value);
            for (var i = 0; i < inputs.Count; i++)
            {
                var id = _lastInputId + 1;
                insert.Bind(1, id);
                insert.Bind(3, inputs[i].Index);
                insert.Bind(4, inputs[i].Args);
                insert.Bind(5, inputs[i].ArgsBlob);
                if (insert.Execute() == 1)
                {
                    _lastInputId = id;
                    ids[i] = id;
                }
                else
                {
                    ids[i] = 0;
                }
            }
        }).ContinueWith<IReadOnlyList<long>>(task =>
        {
            task.GetAwaiter().GetResult();
            return ids;
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public Task SetFinalAsync(string callId, CancellationToken cancellationToken) => WriteAsync(c =>
    {
        using var command = Command(c, "UPDATE calls SET final = 1 WHERE call_id = $id", ("$id", callId));
        command.ExecuteNonQuery();
    });

    public Task CompleteInputsAsync(IReadOnlyList<CompletionRecord> completions, CancellationToken cancellationToken) =>
        CompleteInputsAsync(completions, null, cancellationToken);

    public Task CompleteInputsAsync(IReadOnlyList<CompletionRecord> completions, LeaseFence? fence, CancellationToken cancellationToken) => WriteAsync(c =>
    {
        CheckFence(c, fence);
        // Each call's key and last cursor, read once per write: the single writer is the only one that moves it. A call
        // the store does not have gets key 0, which no input has.
        var cursors = new Dictionary<string, (long Key, long Cursor)>(StringComparer.Ordinal);
        var read = Raw(c, "SELECT call_key, outputs FROM calls WHERE call_id = ?1");
        var update = Raw(c, """
            UPDATE inputs SET done = 1, completion_order = ?3, success = ?4, result = ?5, result_blob = ?6,
                error = ?7, completed_at = ?8, args = NULL
            WHERE input_id = ?1 AND call_key = ?2 AND done = 0
            """);
        foreach (var done in completions)
        {
            if (!cursors.TryGetValue(done.CallId, out var call))
            {
                read.Bind(1, done.CallId);
                call = read.ExecuteInt64Pair() ?? (0, 0);
            }
            var cursor = call.Cursor;
            update.Bind(1, done.InputId);
            update.Bind(2, call.Key);
            update.Bind(3, cursor + 1);
            update.Bind(4, done.Success ? 1 : 0);
            update.Bind(5, done.Result);
            update.Bind(6, done.ResultBlob);
            update.Bind(7, done.Error is null ? null : JsonSerializer.Serialize(done.Error, Json.RemoteError));
            update.Bind(8, Ms(done.CompletedAt));
            cursors[done.CallId] = (call.Key, update.Execute() == 1 ? cursor + 1 : cursor);
        }
        var count = Raw(c, "UPDATE calls SET outputs = ?1 WHERE call_key = ?2");
        foreach (var (key, cursor) in cursors.Values)
        {
            count.Bind(1, cursor);
            count.Bind(2, key);
            count.Execute();
        }
    });

    public Task SetAttemptAsync(long inputId, int attempt, CancellationToken cancellationToken) => WriteAsync(c =>
    {
        using var command = Command(c, "UPDATE inputs SET attempt = $a WHERE input_id = $id", ("$a", attempt), ("$id", inputId));
        command.ExecuteNonQuery();
    });

    public async Task<IReadOnlyList<PendingInput>> LoadPendingInputsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT i.input_id, c.call_id, i.idx, i.args, i.args_blob, i.attempt,
                   c.app_id, c.function, c.pool_id, c.kind, c.created_at, c.final, c.pool
            FROM inputs i JOIN calls c ON c.call_key = i.call_key
            WHERE i.done = 0 ORDER BY i.input_id
            """;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var calls = new Dictionary<string, CallRecord>();
        var pending = new List<PendingInput>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var callId = reader.GetString(1);
            if (!calls.TryGetValue(callId, out var call))
            {
                call = ReadCall(reader, callId, 6);
                calls[callId] = call;
            }
            pending.Add(new PendingInput(
                new InputRecord(reader.GetInt64(0), callId, reader.GetInt32(2), reader.IsDBNull(3) ? null : reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4)),
                call,
                reader.GetInt32(5)));
        }
        return pending;
    }

    public async Task<IReadOnlyList<PendingInput>> LoadQueuedInputsAsync(CallRecord call, long fromId, long toId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT input_id, idx, args, args_blob, attempt FROM inputs
            WHERE input_id BETWEEN $from AND $to AND done = 0 AND call_key = {KeyOfCall}
            ORDER BY input_id LIMIT $limit
            """;
        command.Parameters.AddWithValue("$from", fromId);
        command.Parameters.AddWithValue("$to", toId);
        command.Parameters.AddWithValue("$id", call.CallId);
        command.Parameters.AddWithValue("$limit", limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var page = new List<PendingInput>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            page.Add(new PendingInput(
                new InputRecord(reader.GetInt64(0), call.CallId, reader.GetInt32(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3)),
                call,
                reader.GetInt32(4)));
        }
        return page;
    }

    private static CallRecord ReadCall(SqliteDataReader reader, string callId, int offset) => new(
        callId,
        reader.GetString(offset),
        reader.GetString(offset + 1),
        reader.GetString(offset + 2),
        reader.GetString(offset + 3),
        Time(reader.GetInt64(offset + 4)),
        reader.GetInt64(offset + 5) != 0,
        reader.IsDBNull(offset + 6) ? null : JsonSerializer.Deserialize(reader.GetString(offset + 6), Json.PoolSpec));

    public async Task<CallRecord?> GetCallAsync(string callId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT app_id, function, pool_id, kind, created_at, final, pool FROM calls WHERE call_id = $id";
        command.Parameters.AddWithValue("$id", callId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadCall(reader, callId, 0) : null;
    }

    public async Task<(IReadOnlyList<StoredOutput> Outputs, IReadOnlyList<int> Indices)> LoadCallAsync(string callId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT idx, done, completion_order, success, result, result_blob, error FROM inputs WHERE call_key = {KeyOfCall} ORDER BY completion_order, idx";
        command.Parameters.AddWithValue("$id", callId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var outputs = new List<StoredOutput>();
        var indices = new List<int>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var index = reader.GetInt32(0);
            indices.Add(index);
            if (reader.GetInt64(1) == 0)
            {
                continue;
            }
            outputs.Add(new StoredOutput(
                index,
                reader.GetInt64(2),
                reader.GetInt64(3) != 0,
                reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetString(5),
                reader.IsDBNull(6) ? null : JsonSerializer.Deserialize(reader.GetString(6), Json.RemoteError)));
        }
        return (outputs, indices);
    }

    public async Task<(int Total, int Completed)> CountInputsAsync(string callId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT COUNT(*), COALESCE(SUM(done), 0) FROM inputs WHERE call_key = {KeyOfCall}";
        command.Parameters.AddWithValue("$id", callId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return (reader.GetInt32(0), reader.GetInt32(1));
    }

    public async Task<int> CountFailedAsync(string callId, CancellationToken cancellationToken) =>
        (int)await ScalarAsync($"SELECT COUNT(*) FROM inputs WHERE call_key = {KeyOfCall} AND done = 1 AND success = 0", callId, cancellationToken).ConfigureAwait(false);

    public async Task<bool> WasCancelledAsync(string callId, CancellationToken cancellationToken) =>
        await ScalarAsync($"SELECT EXISTS(SELECT 1 FROM inputs WHERE call_key = {KeyOfCall} AND done = 1 AND json_extract(error, '$.kind') = '{ErrorKinds.Cancelled}')", callId, cancellationToken).ConfigureAwait(false) != 0;

    public async Task<IReadOnlyList<StoredOutput>> GetOutputsAsync(string callId, long after, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        // The cursor is the completion order within the call; the (call_key, completion_order) index of finished inputs
        // serves the range (the comparison on the cursor is what lets SQLite use an index of non-null cursors only).
        command.CommandText = $"""
            SELECT idx, completion_order, success, result, result_blob, error FROM inputs
            WHERE call_key = {KeyOfCall} AND done = 1 AND completion_order > $after ORDER BY completion_order LIMIT $limit
            """;
        command.Parameters.AddWithValue("$id", callId);
        command.Parameters.AddWithValue("$limit", limit);
        command.Parameters.AddWithValue("$after", after);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var outputs = new List<StoredOutput>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            outputs.Add(new StoredOutput(
                reader.GetInt32(0),
                reader.GetInt64(1),
                reader.GetInt64(2) != 0,
                reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.IsDBNull(5) ? null : JsonSerializer.Deserialize(reader.GetString(5), Json.RemoteError)));
        }
        return outputs;
    }

    public Task<(int Calls, int Apps)> DeleteExpiredAsync(DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        var deleted = (Calls: 0, Apps: 0);
        var done = WriteAsync(c =>
        {
            using (var select = Command(c, """
                CREATE TEMP TABLE IF NOT EXISTS expired_calls(call_key INTEGER PRIMARY KEY);
                DELETE FROM expired_calls;
                INSERT INTO expired_calls SELECT call_key FROM calls c
                    WHERE app_id IN (SELECT app_id FROM apps WHERE state = 'stopped' AND stopped_at < $cutoff)
                    OR (final = 1 AND created_at < $cutoff
                        AND NOT EXISTS (SELECT 1 FROM inputs i WHERE i.call_key = c.call_key AND (i.done = 0 OR i.completed_at >= $cutoff)))
                    LIMIT $batch;
                DELETE FROM inputs WHERE call_key IN (SELECT call_key FROM expired_calls);
                DELETE FROM calls WHERE call_key IN (SELECT call_key FROM expired_calls);
                CREATE TEMP TABLE IF NOT EXISTS expired_apps(app_id TEXT PRIMARY KEY);
                DELETE FROM expired_apps;
                -- An expired app goes with the batch that takes its last call, so no call outlives its app.
                INSERT INTO expired_apps SELECT app_id FROM apps a WHERE state = 'stopped' AND stopped_at < $cutoff
                    AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.app_id = a.app_id);
                """, ("$cutoff", Ms(cutoff)), ("$batch", IRetentionStore.ExpiredCallsPerBatch)))
            {
                select.ExecuteNonQuery();
            }
            using (var count = Command(c, "SELECT (SELECT COUNT(*) FROM expired_calls), (SELECT COUNT(*) FROM expired_apps)"))
            using (var reader = count.ExecuteReader())
            {
                reader.Read();
                deleted = (reader.GetInt32(0), reader.GetInt32(1));
            }
            using var delete = Command(c, """
                DELETE FROM logs WHERE time < $cutoff OR app_id IN (SELECT app_id FROM expired_apps);
                DELETE FROM apps WHERE app_id IN (SELECT app_id FROM expired_apps);
                DELETE FROM expired_calls;
                DELETE FROM expired_apps;
                PRAGMA incremental_vacuum;
                """, ("$cutoff", Ms(cutoff)));
            delete.ExecuteNonQuery();
        });
        return done.ContinueWith(task =>
        {
            task.GetAwaiter().GetResult();
            return deleted;
        }, cancellationToken, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public Task<long> MaxLogSeqAsync(string appId, CancellationToken cancellationToken) => ScalarAsync("SELECT COALESCE(MAX(seq), 0) FROM logs WHERE app_id = $id", appId, cancellationToken);

    private async Task<long> ScalarAsync(string sql, string? id, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        if (id is not null)
        {
            command.Parameters.AddWithValue("$id", id);
        }
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
    }

    public Task AppendLogsAsync(string appId, IReadOnlyList<LogEntry> entries, CancellationToken cancellationToken) => WriteAsync(c =>
    {
        using var insert = Command(c, "INSERT OR IGNORE INTO logs(app_id, seq, time, function, container_id, stream, text) VALUES($app, $seq, $time, $fn, $ctr, $stream, $text)",
            ("$app", appId), ("$seq", 0L), ("$time", 0L), ("$fn", null), ("$ctr", null), ("$stream", ""), ("$text", ""));
        insert.Prepare();
        foreach (var entry in entries)
        {
            insert.Parameters["$seq"].Value = entry.Seq;
            insert.Parameters["$time"].Value = Ms(entry.Time);
            insert.Parameters["$fn"].Value = (object?)entry.Function ?? DBNull.Value;
            insert.Parameters["$ctr"].Value = (object?)entry.ContainerId ?? DBNull.Value;
            insert.Parameters["$stream"].Value = entry.Stream;
            insert.Parameters["$text"].Value = entry.Text;
            insert.ExecuteNonQuery();
        }
    });

    public async Task<IReadOnlyList<LogEntry>> GetLogsAsync(string appId, long after, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT seq, time, function, container_id, stream, text FROM logs WHERE app_id = $app AND seq > $after ORDER BY seq LIMIT $limit";
        command.Parameters.AddWithValue("$app", appId);
        command.Parameters.AddWithValue("$after", after);
        command.Parameters.AddWithValue("$limit", limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var entries = new List<LogEntry>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            entries.Add(new LogEntry(reader.GetInt64(0), Time(reader.GetInt64(1)), reader.GetString(4), reader.GetString(5),
                reader.IsDBNull(2) ? null : reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3)));
        }
        return entries;
    }

    public async Task<string?> FindAppOfContainerAsync(string containerId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT app_id FROM logs WHERE container_id = $id LIMIT 1";
        command.Parameters.AddWithValue("$id", containerId);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
    }

    public Task RecordImageAsync(string workerId, ImageBuilt image, DateTimeOffset at, CancellationToken cancellationToken) => WriteAsync(c =>
    {
        var built = image.BuiltLayers > 0 ? 1 : 0;
        using var command = Command(c, """
            INSERT INTO images(image_id, worker_id, layers, steps, first_built_at, last_used_at, builds, last_build_seconds)
            VALUES($id, $worker, $layers, $steps, $at, $at, $built, $seconds)
            ON CONFLICT(image_id, worker_id) DO UPDATE SET last_used_at = $at, builds = builds + $built,
                last_build_seconds = CASE WHEN $built = 1 THEN $seconds ELSE last_build_seconds END
            """,
            ("$id", image.ImageId), ("$worker", workerId), ("$layers", image.Layers),
            ("$steps", JsonSerializer.Serialize(image.Description.ToList(), Json.ListString)), ("$at", Ms(at)), ("$built", built),
            ("$seconds", image.Seconds));
        command.ExecuteNonQuery();
    });

    public async Task<IReadOnlyList<ImageSummary>> ListImagesAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT image_id, worker_id, layers, steps, first_built_at, last_used_at, builds, last_build_seconds FROM images ORDER BY last_used_at DESC";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var images = new List<ImageSummary>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            images.Add(new ImageSummary(reader.GetString(0), reader.GetString(1), reader.GetInt32(2),
                JsonSerializer.Deserialize(reader.GetString(3), Json.ListString) ?? [], Time(reader.GetInt64(4)), Time(reader.GetInt64(5)),
                reader.GetInt32(6), reader.GetDouble(7)));
        }
        return images;
    }

    public Task SaveTokenAsync(TokenRecord token, CancellationToken cancellationToken) => WriteAsync(c =>
    {
        using var command = Command(c, """
            INSERT INTO tokens(token_id, name, kind, secret_hash, created_at, revoked_at) VALUES($id, $name, $kind, $hash, $created, $revoked)
            ON CONFLICT(token_id) DO UPDATE SET revoked_at = $revoked
            """,
            ("$id", token.TokenId), ("$name", token.Name), ("$kind", token.Kind), ("$hash", token.SecretHash),
            ("$created", Ms(token.CreatedAt)), ("$revoked", token.RevokedAt is { } revoked ? Ms(revoked) : null));
        command.ExecuteNonQuery();
    });

    public async Task<IReadOnlyList<TokenRecord>> ListTokensAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT token_id, name, kind, secret_hash, created_at, revoked_at FROM tokens ORDER BY created_at";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var tokens = new List<TokenRecord>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            tokens.Add(new TokenRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                Time(reader.GetInt64(4)), reader.IsDBNull(5) ? null : Time(reader.GetInt64(5))));
        }
        return tokens;
    }

    public async ValueTask DisposeAsync()
    {
        _writes.Writer.TryComplete();
        if (_writer is not null)
        {
            await _writer.ConfigureAwait(false);
        }
        _disposing = true;
        if (_checkpointer is not null)
        {
            if (_logGrew.CurrentCount == 0)
            {
                _logGrew.Release();
            }
            await _checkpointer.ConfigureAwait(false);
        }
        SqliteConnection.ClearAllPools();
    }
}
