using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Storage;

namespace Ferry.Tests.Storage;

/// <summary>
/// The store contract on PostgreSQL: one database for the class, and a schema of its own per test. Skipped where no
/// PostgreSQL answers (see <see cref="PostgresTestDatabase"/>).
/// </summary>
[RequiresPostgres]
public sealed class PostgresStoreContractTests(PostgresDatabaseFixture fixture) : StoreContractTests, IClassFixture<PostgresDatabaseFixture>
{
    private string _connectionString = "";

    protected override async Task PrepareAsync() => _connectionString = await fixture.Database!.CreateSchemaAsync();

    private protected override IStore CreateStore() => new PostgresStore(_connectionString, "test database");

    protected override Task RefuseTokenNamedAsync(string name) =>
        PostgresTestDatabase.ExecuteAsync(_connectionString, $"ALTER TABLE tokens ADD CONSTRAINT refuse_token CHECK (name <> '{name.Replace("'", "''", StringComparison.Ordinal)}')");

    [StoreFact]
    public async Task TwoStoresOnOneSchema_AddingAndCompletingConcurrently_NeverCollide()
    {
        await using var second = await OpenAsync();
        var call = new CallRecord("fc-1", "ap-1", "square", "square", "map", T0, false, null);
        var firstIds = Store.AddInputsAsync(call, [.. Enumerable.Range(0, 300).Select(i => new NewInput(i, $"[{i}]", null))], default);
        var secondIds = second.AddInputsAsync(call, [.. Enumerable.Range(150, 300).Select(i => new NewInput(i, $"[{i}]", null))], default);
        var ids = (await Task.WhenAll(firstIds, secondIds).WaitAsync(TimeSpan.FromSeconds(30))).SelectMany(i => i).Where(id => id != 0).ToList();

        var pending = await Store.LoadPendingInputsAsync(default);
        var stores = new[] { Store, second };
        await Task.WhenAll(pending.Select((p, n) => stores[n % 2].CompleteInputsAsync(
            [new CompletionRecord(p.Input.InputId, "fc-1", true, $"{p.Input.Index}", null, null, T0)], default))).WaitAsync(TimeSpan.FromSeconds(60));
        var outputs = await second.GetOutputsAsync("fc-1", 0, 1000, default);

        ids.Should().OnlyHaveUniqueItems().And.HaveCount(450, "each index is taken once, by whichever store added it first");
        pending.Select(p => p.Input.Index).Should().BeEquivalentTo(Enumerable.Range(0, 450));
        outputs.Select(o => o.Cursor).Should().Equal(Enumerable.Range(1, 450).Select(i => (long)i), "cursors stay dense when two servers complete one call");
        outputs.Select(o => o.Index).Should().BeEquivalentTo(Enumerable.Range(0, 450));
    }

    [StoreFact]
    public async Task InitializeAsync_AfterTheFirstStoreCloses_OpensAndFindsTheSchemaCurrent()
    {
        await ReopenAsync();

        await using var check = new Npgsql.NpgsqlConnection(_connectionString);
        await check.OpenAsync();
        await using var versions = new Npgsql.NpgsqlCommand("SELECT array_agg(version ORDER BY version) FROM ferry_schema", check);
        ((int[])(await versions.ExecuteScalarAsync())!).Should().Equal(Enumerable.Range(1, PostgresStore.SchemaVersion));
    }

    [StoreFact]
    public async Task InitializeAsync_SchemaNewerThanTheServer_RefusesToOpen()
    {
        await PostgresTestDatabase.ExecuteAsync(_connectionString, $"INSERT INTO ferry_schema(version) VALUES({PostgresStore.SchemaVersion + 1})");
        await using var newer = CreateStore();

        var opening = () => newer.InitializeAsync(CancellationToken.None);

        (await opening.Should().ThrowAsync<StoreUnavailableException>()).Which.Message.Should().Contain("newer than this server's");
    }

    [StoreFact]
    public async Task AppendLogs_LineWithANulCharacter_IsKeptWithAReplacementCharacter()
    {
        await Store.AppendLogsAsync("ap-1", [new LogEntry(1, T0, LogStreams.Stdout, "a\0b")], default);

        (await Store.GetLogsAsync("ap-1", 0, 10, default)).Single().Text.Should().Be("a\uFFFDb");
    }
}
