using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Ferry.Bench;

/// <summary>
/// For context beside the warm call and the maps: the same work on Dask (python3-distributed), a LocalCluster of 2
/// worker processes with one thread each on this machine, measured by a script this class writes out and runs: the p50
/// of sequential <c>client.submit(f, x).result()</c> on a warm cluster, and <c>client.map</c> then <c>gather</c> of
/// a trivial function over each count, after a warm-up map of 200.
/// </summary>
internal static class DaskFloor
{
    public sealed record Result(string? SkippedBecause, double WarmP50Ms, IReadOnlyDictionary<int, double> MapRates);

    private const string Script = """
        import json, sys, time
        from distributed import Client, LocalCluster

        def square(x):
            return x * x

        if __name__ == "__main__":
            calls, counts = int(sys.argv[1]), [int(c) for c in sys.argv[2].split(",")]
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
                client.submit(square, 0, pure=False).result()
                latencies = []
                for i in range(calls):
                    start = time.perf_counter()
                    client.submit(square, i, pure=False).result()
                    latencies.append((time.perf_counter() - start) * 1000)
                latencies.sort()
                rates = {}
                for count in counts:
                    client.gather(client.map(square, range(200), pure=False))
                    start = time.perf_counter()
                    results = client.gather(client.map(square, range(count), pure=False))
                    rates[count] = len(results) / (time.perf_counter() - start)
                    del results
                print(json.dumps({"warm_p50_ms": latencies[len(latencies) // 2], "map_rates": rates}))
        """;

    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(20);

    public static async Task<Result> RunAsync(int calls, IReadOnlyList<int> counts)
    {
        var python = await FindPythonAsync();
        if (python is null)
        {
            return new Result("no python3 with Dask's distributed package (apt-get install -y python3-distributed)", 0, new Dictionary<int, double>());
        }
        var script = Path.Combine(Path.GetTempPath(), $"ferry-bench-dask-{Guid.NewGuid():N}.py");
        await File.WriteAllTextAsync(script, Script);
        try
        {
            var info = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var argument in (string[])[script, calls.ToString(CultureInfo.InvariantCulture), string.Join(',', counts)])
            {
                info.ArgumentList.Add(argument);
            }
            using var process = Process.Start(info)!;
            var errors = process.StandardError.ReadToEndAsync();
            string output;
            try
            {
                output = await process.StandardOutput.ReadToEndAsync().WaitAsync(Limit);
            }
            catch (TimeoutException)
            {
                process.Kill(entireProcessTree: true);
                return new Result($"the Dask script did not finish within {Limit.TotalMinutes:0} minutes", 0, new Dictionary<int, double>());
            }
            await process.WaitForExitAsync();
            var line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault();
            if (process.ExitCode != 0 || line is null)
            {
                var tail = (await errors).Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "";
                return new Result($"the Dask script exited with code {process.ExitCode}: {tail}", 0, new Dictionary<int, double>());
            }
            using var json = JsonDocument.Parse(line);
            var rates = json.RootElement.GetProperty("map_rates").EnumerateObject()
                .ToDictionary(p => int.Parse(p.Name, CultureInfo.InvariantCulture), p => p.Value.GetDouble());
            return new Result(null, json.RootElement.GetProperty("warm_p50_ms").GetDouble(), rates);
        }
        finally
        {
            File.Delete(script);
        }
    }

    /// <summary>The first python3 (on PATH, then the system's) that can import Dask's distributed package.</summary>
    private static async Task<string?> FindPythonAsync()
    {
        foreach (var candidate in (string[])["python3", "/usr/bin/python3"])
        {
            try
            {
                var info = new ProcessStartInfo(candidate) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                info.ArgumentList.Add("-c");
                info.ArgumentList.Add("import distributed");
                using var process = Process.Start(info)!;
                _ = process.StandardOutput.ReadToEndAsync();
                _ = process.StandardError.ReadToEndAsync();
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
                if (process.ExitCode == 0)
                {
                    return candidate;
                }
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // Not installed under this name.
            }
        }
        return null;
    }
}
