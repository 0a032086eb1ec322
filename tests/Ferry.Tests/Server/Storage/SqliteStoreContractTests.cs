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

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
