using Npgsql;

namespace Ferry.Tests.Storage;

/// <summary>
/// A PostgreSQL database of its own for one test class, dropped at the end. The server is the one the
/// <c>FERRY_TEST_POSTGRES</c> connection string names or, when that is unset, the local cluster over its Unix socket
/// as the current user or as <c>postgres</c>. Where neither answers, PostgreSQL tests are skipped with
/// <see cref="SkipReason"/>; a <c>FERRY_TEST_POSTGRES</c> that is set but does not answer fails them instead, since
/// whoever set it expects them to run.
/// </summary>
public sealed class PostgresTestDatabase : IAsyncDisposable
{
    public const string Variable = "FERRY_TEST_POSTGRES";

    private static readonly Lazy<(string? Server, string? SkipReason)> Found = new(Find);
    private readonly string _server;

    private PostgresTestDatabase(string server, string name)
    {
        _server = server;
        Name = name;
        ConnectionString = new NpgsqlConnectionStringBuilder(server) { Database = name }.ConnectionString;
    }

    /// <summary>Why PostgreSQL tests cannot run here, or null when they can.</summary>
    public static string? SkipReason => Found.Value.SkipReason;

    public string Name { get; }

    /// <summary>The connection string of this database.</summary>
    public string ConnectionString { get; }

    private static (string?, string?) Find()
    {
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } configured)
        {
            return (configured, null);
        }
        var refusals = new List<string>();
        foreach (var user in new[] { Environment.UserName, "postgres" }.Distinct())
        {
            var candidate = new NpgsqlConnectionStringBuilder { Host = "/var/run/postgresql", Username = user, Database = "postgres", Timeout = 3 }.ConnectionString;
            try
            {
                using var connection = new NpgsqlConnection(candidate);
                connection.Open();
                using var command = new NpgsqlCommand("SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user", connection);
                if (command.ExecuteScalar() is true)
                {
                    return (candidate, null);
                }
                refusals.Add($"{user} may not create databases");
            }
            catch (Exception e)
            {
                refusals.Add($"{user}: {e.Message}");
            }
        }
        return (null, $"No PostgreSQL to test against: {Variable} is unset and the local cluster refused ({string.Join("; ", refusals)})");
    }

    /// <summary>Creates an empty database on the test server.</summary>
    public static async Task<PostgresTestDatabase> CreateAsync()
    {
        var server = Found.Value.Server ?? throw new InvalidOperationException(SkipReason);
        var database = new PostgresTestDatabase(server, "ferry_test_" + Guid.NewGuid().ToString("N")[..12]);
        await database.ExecuteOnServerAsync($"CREATE DATABASE {database.Name}");
        return database;
    }

    /// <summary>Creates an empty schema in this database and returns a connection string whose search path is that schema.</summary>
    public async Task<string> CreateSchemaAsync()
    {
        var schema = "t_" + Guid.NewGuid().ToString("N")[..12];
        await ExecuteAsync($"CREATE SCHEMA {schema}");
        return new NpgsqlConnectionStringBuilder(ConnectionString) { SearchPath = schema }.ConnectionString;
    }

    /// <summary>Runs a statement in this database.</summary>
    public static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public Task ExecuteAsync(string sql) => ExecuteAsync(ConnectionString, sql);

    private Task ExecuteOnServerAsync(string sql) => ExecuteAsync(_server, sql);

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await ExecuteOnServerAsync($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)");
    }
}

/// <summary>A fresh database for one test class, or nothing where PostgreSQL cannot run (the tests are then skipped).</summary>
public sealed class PostgresDatabaseFixture : IAsyncLifetime
{
    public PostgresTestDatabase? Database { get; private set; }

    public async Task InitializeAsync()
    {
        if (PostgresTestDatabase.SkipReason is null)
        {
            Database = await PostgresTestDatabase.CreateAsync();
        }
    }

    public async Task DisposeAsync()
    {
        if (Database is not null)
        {
            await Database.DisposeAsync();
        }
    }
}
