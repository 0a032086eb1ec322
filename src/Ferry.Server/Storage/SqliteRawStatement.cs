using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Ferry.Server.Storage;

/// <summary>
/// One of the store writer's per-row statements, prepared once on the writer's connection and bound by position.
/// Microsoft.Data.Sqlite looks each parameter's index up by name, converting the name to UTF-8, on every execution;
/// for a map that runs these statements once per input, that lookup cost about as much as SQLite's own work. The
/// statement runs inside whatever transaction the connection has open, like any other command on it.
/// </summary>
internal sealed class SqliteRawStatement : IDisposable
{
    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _statement;

    public SqliteRawStatement(SqliteConnection connection, string sql)
    {
        _db = connection.Handle ?? throw new InvalidOperationException("The connection is not open.");
        Check(raw.sqlite3_prepare_v2(_db, sql, out _statement));
    }

    /// <summary>Binds a value to the 1-based parameter <paramref name="index"/>.</summary>
    public void Bind(int index, long value) => Check(raw.sqlite3_bind_int64(_statement, index, value));

    /// <inheritdoc cref="Bind(int, long)"/>
    public void Bind(int index, string? value) =>
        Check(value is null ? raw.sqlite3_bind_null(_statement, index) : raw.sqlite3_bind_text(_statement, index, value));

    /// <summary>Runs a statement that returns no rows; the number of rows it changed.</summary>
    public int Execute()
    {
        try
        {
            var rc = raw.sqlite3_step(_statement);
            if (rc != raw.SQLITE_DONE && rc != raw.SQLITE_ROW)
            {
                Check(rc);
            }
            return raw.sqlite3_changes(_db);
        }
        finally
        {
            raw.sqlite3_reset(_statement);
        }
    }

    /// <summary>Runs a query; the first column of its first row as a number, or null when it has no row or a null.</summary>
    public long? ExecuteScalarInt64() =>
        Query(static s => raw.sqlite3_column_type(s, 0) == raw.SQLITE_NULL ? (long?)null : raw.sqlite3_column_int64(s, 0));

    /// <summary>Runs a query; the first two columns of its first row as numbers, or null when it has no row.</summary>
    public (long First, long Second)? ExecuteInt64Pair() =>
        Query(static s => ((long First, long Second)?)(raw.sqlite3_column_int64(s, 0), raw.sqlite3_column_int64(s, 1)));

    /// <summary>Runs a query and reads its first row with <paramref name="read"/>; the default when it has no row.</summary>
    private T? Query<T>(Func<sqlite3_stmt, T?> read)
    {
        try
        {
            var rc = raw.sqlite3_step(_statement);
            if (rc == raw.SQLITE_ROW)
            {
                return read(_statement);
            }
            if (rc != raw.SQLITE_DONE)
            {
                Check(rc);
            }
            return default;
        }
        finally
        {
            raw.sqlite3_reset(_statement);
        }
    }

    public void Dispose() => _statement.Dispose();

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            throw new SqliteException(raw.sqlite3_errmsg(_db).utf8_to_string(), rc, raw.sqlite3_extended_errcode(_db));
        }
    }
}
