using System.Diagnostics;
using System.Globalization;
using Ferry.Protocol;

namespace Ferry.Bench;

/// <summary>
/// Memory and disk under sustained load: a separate <c>ferry server</c> process (so its RSS is the server's alone)
/// takes successive spawn maps of a trivial function; after each, its RSS and database size are read, and once more
/// after the finished calls' grace period has passed with the server idle.
/// </summary>
internal static class RetentionBench
{
    public static async Task<List<(string Name, string Ferry, string Floor, string Ratio)>> RunAsync(int maps, int size)
    {
        var rows = new List<(string, string, string, string)>();
        await using var server = await BenchServer.StartAsync("retention");
        var (client, functions) = (server.Client, server.Functions);
        await functions.Square.RemoteAsync(1);
        var idle = server.Rss;
        rows.Add(("server RSS, idle before the maps", Mib(idle), "500 MiB (target after the maps)", ""));
        var watch = Stopwatch.StartNew();
        for (var map = 1; map <= maps; map++)
        {
            var callId = (await functions.Square.SpawnMapAsync(Enumerable.Range(0, size))).Id;
            while ((await client.SendAsync<object, CallStatus>(HttpMethod.Get, Routes.Call(callId), null, null, ProtocolJsonContext.Default.CallStatus, CancellationToken.None)).State != "done")
            {
                // A benchmark polling a status once a second; tests wait on events instead.
                await Task.Delay(1000);
            }
            Console.WriteLine($"map {map}/{maps} of {size:N0} done after {watch.Elapsed.TotalSeconds:0} s: RSS {Mib(server.Rss)}, database {Mib(server.StoreBytes)}");
            if (map == 1 || map == maps)
            {
                rows.Add(($"server RSS after spawn map {map} of {size:N0}", Mib(server.Rss), "", Ratio(server.Rss, idle) + " of idle"));
                rows.Add(($"database after spawn map {map}", Mib(server.StoreBytes), "", ""));
            }
        }
        // The finished calls' grace period (60 s) passes with nobody reading them; then they are only in the store.
        await Task.Delay(TimeSpan.FromSeconds(75));
        rows.Add(($"server RSS, idle 75 s after {maps} maps", Mib(server.Rss), Mib(idle) + " (idle before)", Ratio(server.Rss, idle)));
        var read = Stopwatch.StartNew();
        var first = await client.SendAsync<object, OutputBatch>(HttpMethod.Get, Routes.Outputs((await functions.Square.SpawnMapAsync([2])).Id, 0, TimeSpan.FromSeconds(30)), null, null, ProtocolJsonContext.Default.OutputBatch, CancellationToken.None);
        rows.Add(("a spawn after the idle wait, to its output (cold start)", Ms(read.Elapsed.TotalMilliseconds), "", first.Done ? "" : "not done"));
        return rows;
    }

    private static string Mib(long bytes) => (bytes / 1024.0 / 1024.0).ToString("0", CultureInfo.InvariantCulture) + " MiB";

    private static string Ms(double ms) => ms.ToString("0.0", CultureInfo.InvariantCulture) + " ms";

    private static string Ratio(long a, long b) => b <= 0 ? "" : ((double)a / b).ToString("0.00", CultureInfo.InvariantCulture) + "x";
}
