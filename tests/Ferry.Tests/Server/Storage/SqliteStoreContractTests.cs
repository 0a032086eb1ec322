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

    private protected override IStore CreateStore() => new SqliteStore(DatabasePath);

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
    public async Task LoneWrites_OnAnIdleStore_CommitBeforeTheyReturn()
    {
        const int count = 50;
        var ids = await Store.AddInputsAsync(Call("fc-1"), Inputs(count + 1), default);

        // The writer loop holds the connection until it has finished with the write above (and with whatever that
        // write's continuations ran on its thread); from then on the store is idle and only this thread writes to it.
        var store = (SqliteStore)Store;
        var deadline = DateTime.UtcNow + Limit;
        while (!store.IsIdle && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
        store.IsIdle.Should().BeTrue();
        var returnedDone = Enumerable.Range(0, ids.Count)
            .Select(i => Store.CompleteInputsAsync([Done(ids[i], "fc-1", i)], default))
            .Select(w => w.IsCompletedSuccessfully)
            .ToList();
        var added = Store.AddInputsAsync(Call("fc-2"), Inputs(1), default);

        returnedDone.Should().AllSatisfy(done => done.Should().BeTrue());
        added.IsCompletedSuccessfully.Should().BeTrue();
        (await Store.GetOutputsAsync("fc-1", 0, 100, default)).Select(o => (o.Index, o.Cursor))
            .Should().Equal(Enumerable.Range(0, ids.Count).Select(i => (i, (long)i + 1)));
        (await Store.CountInputsAsync("fc-2", default)).Total.Should().Be(1);
    }

    [StoreFact]
    public async Task LoneAndBatchedWrites_FromManyThreads_AllCommitInIssueOrderPerThread()
    {
        const int threads = 4;
        const int each = 100;
        var ids = await Store.AddInputsAsync(Call("fc-1"), Inputs(threads * each), default);
        using var start = new Barrier(threads);

        // Each thread alternates lone writes (which may commit on it) with pairs (which always go to the writer).
        var workers = Enumerable.Range(0, threads).Select(t => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait(Limit);
            var writes = new List<Task>();
            for (var i = 0; i < each; i += 3)
            {
                var index = t * each + i;
                writes.Add(Store.CompleteInputsAsync([Done(ids[index], "fc-1", index)], default));
                if (i + 2 < each)
                {
                    writes.Add(Store.CompleteInputsAsync([Done(ids[index + 1], "fc-1", index + 1), Done(ids[index + 2], "fc-1", index + 2)], default));
                }
                else if (i + 1 < each)
                {
                    writes.Add(Store.CompleteInputsAsync([Done(ids[index + 1], "fc-1", index + 1)], default));
                }
            }
            return Task.WhenAll(writes);
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap()).ToList();
        await Task.WhenAll(workers).WaitAsync(Limit);

        var outputs = await Store.GetOutputsAsync("fc-1", 0, threads * each, default);
        outputs.Select(o => o.Cursor).Should().Equal(Enumerable.Range(1, threads * each).Select(i => (long)i));
        foreach (var t in Enumerable.Range(0, threads))
        {
            // One thread's writes were issued one after another: their cursors rise in that order.
            outputs.Where(o => o.Index / each == t).Select(o => o.Index).Should().BeInAscendingOrder();
        }
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
