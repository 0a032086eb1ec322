using System.Diagnostics;
using System.Globalization;
using Ferry.Server.Storage;
using Microsoft.Data.Sqlite;

namespace Ferry.Bench;

/// <summary>
/// The embedded store on its own, as a map drives it: a call's inputs added in batches, then completed in smaller
/// batches, through <see cref="SqliteStore"/> in a fresh directory. Reports the rate of each and the bytes each table
/// and index holds per input once every input has its outcome, read from SQLite's <c>dbstat</c> table after a
/// checkpoint, so the figure does not depend on how much of the log was folded in when it was read. The floor is the
/// same rows' insert and update in the same batches on one table with an integer key and no other index.
/// </summary>
internal static class StoreBench
{
    private const int AddBatch = 1_000;
    private const int CompleteBatch = 100;

    public static async Task<List<(string Name, string Ferry, string Floor, string Ratio)>> RunAsync(int size)
    {
        var dir = Directory.CreateTempSubdirectory("ferry-store-bench-").FullName;
        try
        {
            var path = Path.Combine(dir, "ferry.db");
            var (addRate, completeRate) = await WriteMapAsync(path, size);
            var (floorAdd, floorComplete) = WriteFloor(Path.Combine(dir, "floor.db"), size);
            var rows = new List<(string, string, string, string)>
            {
                ($"store: inputs added, batches of {AddBatch:N0}", $"{addRate:N0} inputs/s", $"{floorAdd:N0} rows/s (one table, integer key)", Ratio(addRate, floorAdd)),
                ($"store: outcomes recorded, batches of {CompleteBatch:N0}", $"{completeRate:N0} inputs/s", $"{floorComplete:N0} rows/s (the same table, update by key)", Ratio(completeRate, floorComplete)),
            };
            foreach (var (name, bytes) in SpaceByName(path))
            {
                rows.Add(($"store: bytes per input, {name}", (bytes / (double)size).ToString("0", CultureInfo.InvariantCulture), "", ""));
            }
            return rows;
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<(double Add, double Complete)> WriteMapAsync(string path, int size)
    {
        await using var store = new SqliteStore(path);
        await store.InitializeAsync(CancellationToken.None);
        var call = new CallRecord("fc-" + Guid.NewGuid().ToString("N")[..24], "ap-bench", "square", "pl-bench", "map", DateTimeOffset.UtcNow, false, null);
        var ids = new List<long>(size);
        var watch = Stopwatch.StartNew();
        for (var start = 0; start < size; start += AddBatch)
        {
            var inputs = Enumerable.Range(start, Math.Min(AddBatch, size - start)).Select(i => new NewInput(i, $"[{i}]", null)).ToList();
            ids.AddRange(await store.AddInputsAsync(call, inputs, CancellationToken.None));
        }
        var add = size / watch.Elapsed.TotalSeconds;
        watch.Restart();
        for (var start = 0; start < size; start += CompleteBatch)
        {
            var now = DateTimeOffset.UtcNow;
            var done = ids.Skip(start).Take(CompleteBatch).Select((id, i) => new CompletionRecord(id, call.CallId, true, ((long)(start + i) * (start + i)).ToString(CultureInfo.InvariantCulture), null, null, now)).ToList();
            await store.CompleteInputsAsync(done, CancellationToken.None);
        }
        return (add, size / watch.Elapsed.TotalSeconds);
    }

    /// <summary>The same batches on a table with nothing but an integer key: what SQLite itself costs here.</summary>
    private static (double Add, double Complete) WriteFloor(string path, int size)
    {
        using var connection = new SqliteConnection($"Data Source={path}");
        connection.Open();
        Execute(connection, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE t(id INTEGER PRIMARY KEY, text TEXT, result TEXT);");
        var add = WriteRows(connection, "INSERT INTO t(id, text) VALUES($id, $text)", size, AddBatch, i => $"[{i}]");
        var complete = WriteRows(connection, "UPDATE t SET result = $text, text = NULL WHERE id = $id", size, CompleteBatch,
            i => ((long)i * i).ToString(CultureInfo.InvariantCulture));
        return (add, complete);
    }

    /// <summary>Runs <paramref name="sql"/> for rows 0 to <paramref name="size"/>, a transaction per batch; rows per second.</summary>
    private static double WriteRows(SqliteConnection connection, string sql, int size, int batch, Func<int, string> text)
    {
        var watch = Stopwatch.StartNew();
        for (var start = 0; start < size; start += batch)
        {
            using var transaction = connection.BeginTransaction();
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            var id = command.Parameters.Add("$id", SqliteType.Integer);
            var value = command.Parameters.Add("$text", SqliteType.Text);
            for (var i = start; i < Math.Min(size, start + batch); i++)
            {
                id.Value = i;
                value.Value = text(i);
                command.ExecuteNonQuery();
            }
            transaction.Commit();
        }
        return size / watch.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// Bytes in the pages of each table and index that holds inputs, after folding the log into the file. The SQLite
    /// bundled with Ferry is built without the <c>dbstat</c> table, so the breakdown is read through Python's sqlite3
    /// module (Debian's has it); without Python only the total in use is given.
    /// </summary>
    private static List<(string Name, long Bytes)> SpaceByName(string path)
    {
        var space = new List<(string, long)>();
        using (var connection = new SqliteConnection($"Data Source={path}"))
        {
            connection.Open();
            Execute(connection, "PRAGMA wal_checkpoint(TRUNCATE);");
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT (page_count - freelist_count) * page_size FROM pragma_page_count, pragma_freelist_count, pragma_page_size";
            space.Add(("the whole database, in use", (long)command.ExecuteScalar()!));
        }
        const string Script = """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1])
            q = "SELECT d.name, SUM(d.pgsize) FROM dbstat d JOIN sqlite_schema s ON s.name = d.name WHERE s.tbl_name = 'inputs' GROUP BY d.name ORDER BY d.name"
            for name, size in c.execute(q): print(name, size)
            """;
        try
        {
            var info = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add(Script);
            info.ArgumentList.Add(path);
            using var python = Process.Start(info)!;
            var output = python.StandardOutput.ReadToEnd();
            python.WaitForExit();
            if (python.ExitCode == 0)
            {
                foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    var parts = line.Split(' ');
                    space.Add((parts[0], long.Parse(parts[1], CultureInfo.InvariantCulture)));
                }
            }
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // No python3: the total alone.
        }
        return space;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static string Ratio(double a, double b) => b <= 0 ? "" : (a / b).ToString("0.00", CultureInfo.InvariantCulture) + "x";
}
