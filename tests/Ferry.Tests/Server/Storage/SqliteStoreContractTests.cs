using FluentAssertions;
using Ferry.Server.Storage;
using Microsoft.Data.Sqlite;

namespace Ferry.Tests.Storage;

/// <summary>The store contract on SQLite, in a database file of its own per test.</summary>
public sealed class SqliteStoreContractTests : StoreContractTests
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ferry-store-" + Guid.NewGuid().ToString("N")[..8]);

    private string DatabasePath => Path.Combine(_dir, "ferry.db");

    protected override Task PrepareAsync()
    {
        Directory.CreateDirectory(_dir);
        return Task.CompletedTask;
    }

    // SQLite's own checkpoint size, so a test reaches it with a few MiB of log.
    private protected override IStore CreateStore() => new SqliteStore(DatabasePath, checkpointPages: 1000);

    protected override async Task RefuseTokenNamedAsync(string name)
    {
        await using var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        // SQLite takes no parameters in a trigger's definition; the name is the test's own constant.
        command.CommandText = $"CREATE TRIGGER refuse_token BEFORE INSERT ON tokens WHEN NEW.name = '{name.Replace("'", "''", StringComparison.Ordinal)}' BEGIN SELECT RAISE(ABORT, 'refused'); END";
        await command.ExecuteNonQueryAsync();
    }

    [StoreFact]
    public async Task InitializeAsync_DatabaseOfTheFirstSchema_NumbersEachCallsOutputsFromOneInTheirOldOrder()
    {
        await Store.DisposeAsync();
        File.Delete(DatabasePath);
        await using (var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            // The tables as the first schema had them: completion order was one counter across all calls.
            command.CommandText = """
                CREATE TABLE calls(call_id TEXT PRIMARY KEY, app_id TEXT NOT NULL, function TEXT NOT NULL, pool_id TEXT NOT NULL,
                    kind TEXT NOT NULL, created_at INTEGER NOT NULL, final INTEGER NOT NULL, pool TEXT);
                CREATE TABLE inputs(input_id INTEGER PRIMARY KEY, call_id TEXT NOT NULL, idx INTEGER NOT NULL,
                    args TEXT, args_blob TEXT, attempt INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0,
                    completion_order INTEGER, success INTEGER, result TEXT, result_blob TEXT, error TEXT, completed_at INTEGER,
                    UNIQUE(call_id, idx));
                INSERT INTO calls VALUES('fc-a', 'ap-1', 'f', 'f', 'map', 0, 1, NULL), ('fc-b', 'ap-1', 'f', 'f', 'map', 0, 0, NULL);
                INSERT INTO inputs(input_id, call_id, idx, done, completion_order, success, result, completed_at) VALUES
                    (1, 'fc-a', 0, 1, 7, 1, '"a0"', 0), (2, 'fc-a', 1, 1, 3, 1, '"a1"', 0), (3, 'fc-b', 0, 1, 5, 1, '"b0"', 0),
                    (4, 'fc-b', 1, 0, NULL, NULL, NULL, NULL);
                """;
            await command.ExecuteNonQueryAsync();
        }

        await using var store = await OpenAsync();
        await store.CompleteInputsAsync([new CompletionRecord(4, "fc-b", true, "\"b1\"", null, null, T0)], default);
        var added = await store.AddInputsAsync(new CallRecord("fc-c", "ap-1", "f", "f", "map", T0, false, null), [new NewInput(0, "[0]", null)], default);

        (await store.GetOutputsAsync("fc-a", 0, 10, default)).Select(o => (o.Index, o.Cursor)).Should().Equal((1, 1L), (0, 2L));
        (await store.GetOutputsAsync("fc-b", 0, 10, default)).Select(o => (o.Index, o.Cursor)).Should().Equal((0, 1L), (1, 2L));
        added.Should().Equal(5L);
    }

    [StoreFact]
    public async Task InitializeAsync_DatabaseOfSchema2_KeysInputsByTheirCallAndKeepsEverything()
    {
        await Store.DisposeAsync();
        // The calls and inputs as schema version 2 had them: inputs named their call by its id, and the index by cursor
        // had an entry for every input, finished or not.
        await ExecuteAsync("""
            DROP TABLE inputs;
            DROP TABLE calls;
            CREATE TABLE calls(call_id TEXT PRIMARY KEY, app_id TEXT NOT NULL, function TEXT NOT NULL, pool_id TEXT NOT NULL,
                kind TEXT NOT NULL, created_at INTEGER NOT NULL, final INTEGER NOT NULL, pool TEXT, outputs INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE inputs(input_id INTEGER PRIMARY KEY, call_id TEXT NOT NULL, idx INTEGER NOT NULL,
                args TEXT, args_blob TEXT, attempt INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0,
                completion_order INTEGER, success INTEGER, result TEXT, result_blob TEXT, error TEXT, completed_at INTEGER,
                UNIQUE(call_id, idx));
            CREATE INDEX inputs_pending ON inputs(done) WHERE done = 0;
            CREATE INDEX inputs_call_order ON inputs(call_id, completion_order);
            INSERT INTO calls VALUES('fc-a', 'ap-1', 'f', 'f', 'map', 0, 1, NULL, 2), ('fc-b', 'ap-1', 'g', 'g', 'map', 0, 0, NULL, 0);
            INSERT INTO inputs(input_id, call_id, idx, args, attempt, done, completion_order, success, result, completed_at) VALUES
                (1, 'fc-a', 0, NULL, 0, 1, 2, 1, '"a0"', 0), (2, 'fc-a', 1, NULL, 0, 1, 1, 1, '"a1"', 0),
                (3, 'fc-b', 0, '[3]', 2, 0, NULL, NULL, NULL, NULL), (4, 'fc-b', 1, '[4]', 0, 0, NULL, NULL, NULL, NULL);
            PRAGMA user_version = 2;
            """);

        await using var store = await OpenAsync();

        (await store.GetOutputsAsync("fc-a", 0, 10, default)).Select(o => (o.Index, o.Cursor, o.Result)).Should().Equal((1, 1L, "\"a1\""), (0, 2L, "\"a0\""));
        (await store.LoadPendingInputsAsync(default)).Select(p => (p.Input.InputId, p.Input.CallId, p.Input.Args, p.Attempt, p.Call.Function))
            .Should().Equal((3L, "fc-b", "[3]", 2, "g"), (4L, "fc-b", "[4]", 0, "g"));
        var fcB = new CallRecord("fc-b", "ap-1", "g", "g", "map", T0, true, null);
        (await store.AddInputsAsync(fcB, [new NewInput(1, "[9]", null), new NewInput(2, "[5]", null)], default)).Should().Equal(0L, 5L);
        await store.CompleteInputsAsync([new CompletionRecord(4, "fc-b", true, "\"b1\"", null, null, T0), new CompletionRecord(1, "fc-b", true, "\"x\"", null, null, T0)], default);
        (await store.GetOutputsAsync("fc-b", 0, 10, default)).Select(o => (o.Index, o.Cursor)).Should().Equal((1, 1L));
        (await store.CountInputsAsync("fc-b", default)).Should().Be((3, 1));
        (await store.GetCallAsync("fc-b", default))!.Final.Should().BeTrue();
        (await ScalarAsync("PRAGMA user_version")).Should().Be((long)SqliteStore.SchemaVersion);
        // A page of outputs after a cursor is a range of the index of finished inputs, not a scan of the call's inputs.
        (await QueryPlanAsync("""
            SELECT idx FROM inputs WHERE call_key = (SELECT call_key FROM calls WHERE call_id = 'fc-a') AND done = 1
            AND completion_order > 0 ORDER BY completion_order LIMIT 10
            """)).Should().Equal(
            "SEARCH inputs USING INDEX inputs_call_order (call_key=? AND completion_order>?)",
            "SCALAR SUBQUERY 1",
            "SEARCH calls USING COVERING INDEX sqlite_autoindex_calls_1 (call_id=?)");
    }

    [StoreFact]
    public async Task AddInputsAsync_LogPastTheCheckpointSize_IsCheckpointedIntoTheDatabaseFile()
    {
        var before = new FileInfo(DatabasePath).Length;
        // 4,000 inputs of 2 KiB: about 8 MiB of log, well past the 1,000 pages of 4 KiB that ask for a checkpoint.
        var payload = "[\"" + new string('x', 2048) + "\"]";
        for (var batch = 0; batch < 8; batch++)
        {
            await Store.AddInputsAsync(new CallRecord($"fc-{batch}", "ap-1", "square", "square", "map", T0, false, null), [.. Enumerable.Range(0, 500).Select(i => new NewInput(i, payload, null))], default);
        }

        // The writer does not checkpoint its own commits: only the checkpoint beside it copies them into the file.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (new FileInfo(DatabasePath).Length < before + 4 * 1024 * 1024 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        new FileInfo(DatabasePath).Length.Should().BeGreaterThanOrEqualTo(before + 4 * 1024 * 1024);
        (await Store.CountInputsAsync("fc-7", default)).Total.Should().Be(500);
    }

    [StoreFact]
    public async Task Commits_OneAfterAnother_StartTheLogOverOnceItIsCheckpointed()
    {
        var mark = 1000 * (4096 + 24);
        // Five inputs of 4 KiB per commit: each commit adds about 16 pages to the log.
        var payload = "[\"" + new string('x', 4096) + "\"]";
        var commits = 0;
        async Task<long> CommitAsync()
        {
            commits++;
            await Store.AddInputsAsync(new CallRecord($"fc-{commits}", "ap-1", "square", "square", "map", T0, true, null),
                [.. Enumerable.Range(0, 5).Select(i => new NewInput(i, payload, null))], default);
            return new FileInfo(DatabasePath + "-wal").Length;
        }

        // Past the mark: the checkpoint beside the writer runs while these commits go on.
        var length = 0L;
        while (length < 2 * mark && commits < 10_000)
        {
            length = await CommitAsync();
        }
        length.Should().BeGreaterThanOrEqualTo(2 * mark);
        // A commit made while the checkpoint ran kept the log from starting over, until the writer copied it too.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (length >= mark && DateTime.UtcNow < deadline)
        {
            length = await CommitAsync();
        }

        length.Should().BeLessThan(mark, "the log starts over and is truncated once every frame in it is copied");
        (await Store.CountInputsAsync($"fc-{commits}", default)).Total.Should().Be(5);
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    private async Task<object?> ScalarAsync(string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync();
    }

    /// <summary>The steps of SQLite's plan for <paramref name="sql"/>.</summary>
    private async Task<List<string>> QueryPlanAsync(string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "EXPLAIN QUERY PLAN " + sql;
        await using var reader = await command.ExecuteReaderAsync();
        var steps = new List<string>();
        while (await reader.ReadAsync())
        {
            steps.Add(reader.GetString(3));
        }
        return steps;
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
