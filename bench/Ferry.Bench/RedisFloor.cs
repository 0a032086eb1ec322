using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Ferry.Bench;

/// <summary>
/// For context beside the dict and queue figures: redis-benchmark against a redis-server on a free loopback port with
/// no persistence, one client, SET and GET one at a time, and LPUSH and LPOP pipelined 100 deep (the queue's batch).
/// </summary>
internal static class RedisFloor
{
    public sealed record Result(string? SkippedBecause, double SetRps, double SetP50Ms, double GetRps, double GetP50Ms, double PushPopItemsPerSecond);

    public static async Task<Result> RunAsync(int operations, int queueItems)
    {
        if (Which("redis-server") is null || Which("redis-benchmark") is null)
        {
            return new Result("redis-server and redis-benchmark are not on PATH (apt-get install -y redis-server)", 0, 0, 0, 0, 0);
        }
        var port = Ferry.Cli.ListenPort.Pick();
        var info = new ProcessStartInfo("redis-server") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in (string[])["--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"])
        {
            info.ArgumentList.Add(argument);
        }
        using var server = Process.Start(info)!;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            string? line;
            while ((line = await server.StandardOutput.ReadLineAsync(timeout.Token)) is not null && !line.Contains("Ready to accept connections", StringComparison.Ordinal))
            {
            }
            if (line is null)
            {
                return new Result($"redis-server exited before it was ready: {await server.StandardError.ReadToEndAsync()}", 0, 0, 0, 0, 0);
            }
            _ = server.StandardOutput.ReadToEndAsync();
            var single = await BenchmarkAsync(port, "set,get", operations, 1);
            var pipelined = await BenchmarkAsync(port, "lpush,lpop", queueItems, 100);
            // Each queue item is pushed once and popped once, so the combined rate is the harmonic sum of the two.
            var pushPop = 1 / (1 / pipelined["LPUSH"].Rps + 1 / pipelined["LPOP"].Rps);
            return new Result(null, single["SET"].Rps, single["SET"].P50Ms, single["GET"].Rps, single["GET"].P50Ms, pushPop);
        }
        finally
        {
            server.Kill();
            await server.WaitForExitAsync();
        }
    }

    /// <summary>Runs redis-benchmark with one client and reads its CSV: per test, requests per second and the p50 in ms.</summary>
    private static async Task<Dictionary<string, (double Rps, double P50Ms)>> BenchmarkAsync(int port, string tests, int requests, int pipeline)
    {
        var info = new ProcessStartInfo("redis-benchmark") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in (string[])["-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-c", "1", "-n", requests.ToString(CultureInfo.InvariantCulture),
            "-P", pipeline.ToString(CultureInfo.InvariantCulture), "-t", tests, "--csv"])
        {
            info.ArgumentList.Add(argument);
        }
        using var process = Process.Start(info)!;
        var errors = process.StandardError.ReadToEndAsync();
        var output = await process.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"redis-benchmark failed: {await errors}");
        }
        // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",...
        var results = new Dictionary<string, (double, double)>(StringComparer.Ordinal);
        foreach (var row in output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1))
        {
            var cells = row.Split(',').Select(c => c.Trim().Trim('"')).ToArray();
            var name = cells[0].Split(' ')[0];
            results[name] = (double.Parse(cells[1], CultureInfo.InvariantCulture), double.Parse(cells[4], CultureInfo.InvariantCulture));
        }
        return results;
    }

    private static string? Which(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);
}
