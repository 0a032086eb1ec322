using Npgsql;

namespace Ferry.Server.Storage;

/// <summary>
/// Reads <see cref="ServerOptions.Store"/>: null or empty is SQLite in the data dir; a <c>postgres://</c> (or
/// <c>postgresql://</c>) URL or an Npgsql connection string is PostgreSQL. The location may carry a password, so
/// nothing here puts the location itself into a message: <see cref="Describe"/> gives host and database only.
/// </summary>
internal static class StoreLocation
{
    /// <summary>The file of the embedded store in a data dir.</summary>
    public static string SqlitePath(string dataDir) => Path.Combine(dataDir, "ferry.db");

    public static bool IsPostgres(string? store) => !string.IsNullOrWhiteSpace(store);

    /// <summary>Creates (but does not open) the store that <paramref name="store"/> names.</summary>
    /// <exception cref="StoreUnavailableException">The location is malformed.</exception>
    public static IStore Create(string? store, string dataDir) => IsPostgres(store)
        ? new PostgresStore(ToConnectionString(store!), Describe(store, dataDir))
        : new SqliteStore(SqlitePath(dataDir));

    /// <summary>Where the state lives, for people: the SQLite file, or PostgreSQL's database, host and port; never credentials.</summary>
    /// <exception cref="StoreUnavailableException">The location is malformed.</exception>
    public static string Describe(string? store, string dataDir)
    {
        if (!IsPostgres(store))
        {
            return $"SQLite {SqlitePath(dataDir)}";
        }
        var builder = new NpgsqlConnectionStringBuilder(ToConnectionString(store!));
        var database = string.IsNullOrEmpty(builder.Database) ? builder.Username ?? "(default)" : builder.Database;
        return $"PostgreSQL database {database} on {builder.Host ?? "localhost"}:{builder.Port}";
    }

    /// <summary>An Npgsql connection string for a <c>postgres://user:password@host:port/database?key=value</c> URL or a connection string.</summary>
    /// <exception cref="StoreUnavailableException">The location is malformed.</exception>
    public static string ToConnectionString(string store)
    {
        store = store.Trim();
        try
        {
            if (!store.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) && !store.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
            {
                return new NpgsqlConnectionStringBuilder(store).ConnectionString;
            }
            if (!Uri.TryCreate(store, UriKind.Absolute, out var url) || string.IsNullOrEmpty(url.Host) && string.IsNullOrEmpty(QueryValue(url, "host")))
            {
                throw new StoreUnavailableException("The store URL is not valid; write it like postgres://USER:PASSWORD@HOST:5432/DATABASE.");
            }
            var builder = new NpgsqlConnectionStringBuilder();
            if (!string.IsNullOrEmpty(url.Host))
            {
                builder.Host = url.Host.Trim('[', ']');
            }
            if (url.Port > 0)
            {
                builder.Port = url.Port;
            }
            if (url.UserInfo.Length > 0)
            {
                var colon = url.UserInfo.IndexOf(':', StringComparison.Ordinal);
                builder.Username = Uri.UnescapeDataString(colon < 0 ? url.UserInfo : url.UserInfo[..colon]);
                if (colon >= 0)
                {
                    builder.Password = Uri.UnescapeDataString(url.UserInfo[(colon + 1)..]);
                }
            }
            var database = Uri.UnescapeDataString(url.AbsolutePath.TrimStart('/'));
            if (database.Length > 0)
            {
                builder.Database = database;
            }
            // Further settings ride in the query, in Npgsql's names: ?sslmode=require&host=/var/run/postgresql.
            foreach (var pair in url.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                var key = Uri.UnescapeDataString(equals < 0 ? pair : pair[..equals]);
                builder[key] = Uri.UnescapeDataString(equals < 0 ? "" : pair[(equals + 1)..].Replace('+', ' '));
            }
            return builder.ConnectionString;
        }
        catch (ArgumentException e)
        {
            // Npgsql names the unknown or malformed key in its message, never a value.
            throw new StoreUnavailableException($"The store location is not a valid PostgreSQL URL or connection string: {e.Message}", e);
        }
        catch (FormatException e)
        {
            throw new StoreUnavailableException($"The store location is not a valid PostgreSQL URL or connection string: {e.Message}", e);
        }
    }

    private static string? QueryValue(Uri url, string key) =>
        url.Query.TrimStart('?').Split('&').Select(p => p.Split('=', 2)).FirstOrDefault(p => p[0].Equals(key, StringComparison.OrdinalIgnoreCase)) is [_, var value]
            ? Uri.UnescapeDataString(value)
            : null;
}
