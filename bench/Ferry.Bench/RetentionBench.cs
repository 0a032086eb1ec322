using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Ferry.Cli;
using Ferry.Client;
using Ferry.Hosting;
using Ferry.Protocol;
using Ferry.TestApp;

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
        var dataDir = Path.Combine(Path.GetTempPath(), "ferry-retention-" + Guid.NewGuid().ToString("N")[..8]);
        var tokenFile = Path.Combine(dataDir, "token");
        var port = Ferry.Cli.ListenPort.Pick();
        var cli = Path.Combine(Harness.RepositoryRoot, "src", "Ferry.Cli", "bin", new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name, "net10.0", "Ferry.Cli.dll");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { cli, "server", "--port", port.ToString(CultureInfo.InvariantCulture), "--data-dir", dataDir, "--token-file", tokenFile, "--runtime", "process" })
        {
            info.ArgumentList.Add(arg);
        }
        using var server = Process.Start(info)!;
        try
        {
            while (await server.StandardError.ReadLineAsync() is { } line && !line.Contains("listening on", StringComparison.Ordinal))
            {
            }
            _ = server.StandardError.ReadToEndAsync();
            _ = server.StandardOutput.ReadToEndAsync();
            var url = new Uri($"http://127.0.0.1:{port}/");
            var token = (await File.ReadAllTextAsync(tokenFile)).Trim();
            using var admin = new FerryClient(url, token);
            var (buildId, _, _) = await ControlPlane.UploadAsync(admin, new BuiltProgram(Harness.AppDir, "Ferry.TestApp.dll", "bench", false), CancellationToken.None);
            var app = await admin.SendAsync(HttpMethod.Post, Routes.Apps, new CreateAppRequest("retention", buildId), ProtocolJsonContext.Default.CreateAppRequest, ProtocolJsonContext.Default.CreateAppResponse, CancellationToken.None);
            using var client = new FerryClient(url, token) { AppId = app.AppId };
            var functions = new TestFunctions();
            await client.PublishDefinitionAsync(functions.App.ToDefinition(), CancellationToken.None);
            FerryContext.Override = client;
            await functions.Square.RemoteAsync(1);
            var idle = Rss(server.Id);
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
                Console.WriteLine($"map {map}/{maps} of {size:N0} done after {watch.Elapsed.TotalSeconds:0} s: RSS {Mib(Rss(server.Id))}, database {Mib(DatabaseBytes(dataDir))}");
                if (map == 1 || map == maps)
                {
                    rows.Add(($"server RSS after spawn map {map} of {size:N0}", Mib(Rss(server.Id)), "", Ratio(Rss(server.Id), idle) + " of idle"));
                    rows.Add(($"database after spawn map {map}", Mib(DatabaseBytes(dataDir)), "", ""));
                }
            }
            // The finished calls' grace period (60 s) passes with nobody reading them; then they are only in the store.
            await Task.Delay(TimeSpan.FromSeconds(75));
            rows.Add(($"server RSS, idle 75 s after {maps} maps", Mib(Rss(server.Id)), Mib(idle) + " (idle before)", Ratio(Rss(server.Id), idle)));
            var read = Stopwatch.StartNew();
            var first = await client.SendAsync<object, OutputBatch>(HttpMethod.Get, Routes.Outputs((await functions.Square.SpawnMapAsync([2])).Id, 0, TimeSpan.FromSeconds(30)), null, null, ProtocolJsonContext.Default.OutputBatch, CancellationToken.None);
            rows.Add(("a spawn after the idle wait, to its output (cold start)", Ms(read.Elapsed.TotalMilliseconds), "", first.Done ? "" : "not done"));
            FerryContext.Override = null;
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
            Directory.Delete(dataDir, recursive: true);
        }
        return rows;
    }

    private static long Rss(int pid) =>
        long.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;

    private static long DatabaseBytes(string dataDir) =>
        Directory.EnumerateFiles(dataDir, "ferry.db*").Sum(f => new FileInfo(f).Length);


    private static string Mib(long bytes) => (bytes / 1024.0 / 1024.0).ToString("0", CultureInfo.InvariantCulture) + " MiB";

    private static string Ms(double ms) => ms.ToString("0.0", CultureInfo.InvariantCulture) + " ms";

    private static string Ratio(long a, long b) => b <= 0 ? "" : ((double)a / b).ToString("0.00", CultureInfo.InvariantCulture) + "x";
}
