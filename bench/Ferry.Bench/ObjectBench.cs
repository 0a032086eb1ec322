using System.Diagnostics;
using Microsoft.Data.Sqlite;

namespace Ferry.Bench;

/// <summary>Dict and Queue operations from local code, beside the same operations on a SQLite file directly.</summary>
internal static class ObjectBench
{
    public sealed record Result(double DictPutP50Ms, double DictGetP50Ms, double DictGetsPerSecond, double QueueItemsPerSecond,
        double SqlitePutP50Ms, double SqliteGetP50Ms, double SqliteQueueItemsPerSecond);

    public static async Task<Result> RunAsync(Harness harness, int operations, int queueItems)
    {
        await harness.NewAppAsync();
        var dict = Dict.FromName("bench-" + Guid.NewGuid().ToString("N")[..8], createIfMissing: true);
        await dict.PutAsync("warm", 0);
        var puts = new List<double>(operations);
        var gets = new List<double>(operations);
        var clock = new Stopwatch();
        for (var i = 0; i < operations; i++)
        {
            clock.Restart();
            await dict.PutAsync($"k{i}", i);
            puts.Add(clock.Elapsed.TotalMilliseconds);
        }
        var all = Stopwatch.StartNew();
        for (var i = 0; i < operations; i++)
        {
            clock.Restart();
            await dict.GetAsync<int>($"k{i}");
            gets.Add(clock.Elapsed.TotalMilliseconds);
        }
        var getRate = operations / all.Elapsed.TotalSeconds;

        var queue = Queue.FromName("bench-" + Guid.NewGuid().ToString("N")[..8], createIfMissing: true);
        await queue.CountAsync();
        all.Restart();
        var taken = 0;
        for (var start = 0; start < queueItems; start += 100)
        {
            await queue.PutManyAsync(Enumerable.Range(start, 100));
            taken += (await queue.GetManyAsync<int>(100, TimeSpan.FromSeconds(10))).Count;
        }
        var queueRate = taken / all.Elapsed.TotalSeconds;

        var (sqlitePut, sqliteGet, sqliteQueue) = Floor(operations, queueItems);
        return new Result(P50(puts), P50(gets), getRate, queueRate, sqlitePut, sqliteGet, sqliteQueue);
    }

    /// <summary>The same work on a SQLite file in WAL mode, one transaction per write, as a floor.</summary>
    private static (double PutP50, double GetP50, double QueueRate) Floor(int operations, int queueItems)
    {
        var path = Path.Combine(Path.GetTempPath(), "ferry-bench-floor-" + Guid.NewGuid().ToString("N")[..8] + ".db");
        try
        {
            using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
            connection.Open();
            Execute(connection, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT NOT NULL, t INTEGER NOT NULL) WITHOUT ROWID; CREATE TABLE q(id INTEGER PRIMARY KEY, v TEXT NOT NULL);");
            var puts = new List<double>(operations);
            var gets = new List<double>(operations);
            var clock = new Stopwatch();
            for (var i = 0; i < operations; i++)
            {
                clock.Restart();
                using var transaction = connection.BeginTransaction();
                using var put = connection.CreateCommand();
                put.Transaction = transaction;
                put.CommandText = "INSERT INTO kv(k, v, t) VALUES($k, $v, 0) ON CONFLICT(k) DO UPDATE SET v = excluded.v";
                put.Parameters.AddWithValue("$k", $"\"k{i}\"");
                put.Parameters.AddWithValue("$v", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                put.ExecuteNonQuery();
                transaction.Commit();
                puts.Add(clock.Elapsed.TotalMilliseconds);
            }
            for (var i = 0; i < operations; i++)
            {
                clock.Restart();
                using var get = connection.CreateCommand();
                get.CommandText = "SELECT v FROM kv WHERE k = $k";
                get.Parameters.AddWithValue("$k", $"\"k{i}\"");
                get.ExecuteScalar();
                gets.Add(clock.Elapsed.TotalMilliseconds);
            }
            var all = Stopwatch.StartNew();
            for (var start = 0; start < queueItems; start += 100)
            {
                using (var transaction = connection.BeginTransaction())
                {
                    using var insert = connection.CreateCommand();
                    insert.Transaction = transaction;
                    insert.CommandText = "INSERT INTO q(v) VALUES($v)";
                    var value = insert.Parameters.Add("$v", SqliteType.Text);
                    for (var i = start; i < start + 100; i++)
                    {
                        value.Value = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
                        insert.ExecuteNonQuery();
                    }
                    transaction.Commit();
                }
                using (var transaction = connection.BeginTransaction())
                {
                    using var take = connection.CreateCommand();
                    take.Transaction = transaction;
                    take.CommandText = "DELETE FROM q WHERE id IN (SELECT id FROM q ORDER BY id LIMIT 100) RETURNING v";
                    using (var reader = take.ExecuteReader())
                    {
                        while (reader.Read())
                        {
                        }
                    }
                    transaction.Commit();
                }
            }
            return (P50(puts), P50(gets), queueItems / all.Elapsed.TotalSeconds);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            foreach (var file in new[] { path, path + "-wal", path + "-shm" })
            {
                File.Delete(file);
            }
        }
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static double P50(List<double> samples)
    {
        samples.Sort();
        return samples[samples.Count / 2];
    }
}
