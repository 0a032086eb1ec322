using System.Diagnostics;
using System.Globalization;
using Ferry.Protocol;

namespace Ferry.Bench;

/// <summary>
/// One spawn map of many inputs of a trivial function against a separate <c>ferry server</c> process: the time until
/// <c>SpawnMapAsync</c> returns (every input durable), the time until every input is done, the health route's latency
/// sampled from its own client throughout, the server's resident memory sampled throughout, and the store's growth per
/// input.
/// </summary>
internal static class SpawnBench
{
    public sealed record Result(
        int Inputs, double AcceptedSeconds, double DoneSeconds,
        double HealthP50Ms, double HealthP99Ms, double HealthMaxMs, int HealthSamples, int HealthFailures,
        double AcceptHealthP99Ms, double AcceptHealthMaxMs, double IdleHealthP50Ms, double IdleHealthP99Ms,
        double InProcessP50Ms, double InProcessP99Ms, double InProcessMaxMs,
        long IdleRss, long PeakRss, long PeakRssAccepting, long StoreBefore, long StoreAccepted, long StoreDone);

    public static async Task<Result> RunAsync(int size)
    {
        await using var server = await BenchServer.StartAsync("spawn");
        var (client, functions) = (server.Client, server.Functions);
        var healthUrl = new Uri(server.Url, Routes.Health.TrimStart('/'));
        await functions.Square.RemoteAsync(1);

        var idle = server.Rss;
        using var probe = StartProbe(healthUrl);
        // Read as they come, so that the probe never waits on a full pipe.
        var probeLines = Task.Run(async () =>
        {
            var lines = new List<(long At, double Ms)>();
            while (await probe.StandardOutput.ReadLineAsync() is { } line)
            {
                var parts = line.Split(' ');
                lines.Add((long.Parse(parts[0], CultureInfo.InvariantCulture), double.Parse(parts[1], CultureInfo.InvariantCulture)));
            }
            return lines;
        });
        var storeBefore = server.StoreBytes;
        using var stop = new CancellationTokenSource();
        // 0: idle before the map, the floor; 1: accepting the map's inputs; 2: running the rest.
        var phase = 0;
        var health = new List<(double Ms, int Phase)>();
        var failures = 0;
        var prober = Task.Run(async () =>
        {
            // Its own connection pool, so a probe never queues behind the map's uploads.
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(15));
            while (await tick.WaitForNextTickAsync(CancellationToken.None) && !stop.IsCancellationRequested)
            {
                var watch = Stopwatch.StartNew();
                try
                {
                    using var response = await http.GetAsync(healthUrl, CancellationToken.None);
                    response.EnsureSuccessStatusCode();
                    health.Add((watch.Elapsed.TotalMilliseconds, Volatile.Read(ref phase)));
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    failures++;
                    health.Add((watch.Elapsed.TotalMilliseconds, Volatile.Read(ref phase)));
                }
            }
        });
        long peak = idle, peakAccepting = idle;
        var sampler = Task.Run(async () =>
        {
            using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
            while (await tick.WaitForNextTickAsync(CancellationToken.None) && !stop.IsCancellationRequested)
            {
                var rss = server.Rss;
                peak = Math.Max(peak, rss);
                if (Volatile.Read(ref phase) == 1)
                {
                    peakAccepting = Math.Max(peakAccepting, rss);
                }
            }
        });

        // Five seconds of probes of the idle server, on the same machine at the same time: the floor.
        await Task.Delay(TimeSpan.FromSeconds(5));
        Volatile.Write(ref phase, 1);
        var total = Stopwatch.StartNew();
        var acceptStart = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var call = await functions.Square.SpawnMapAsync(Enumerable.Range(0, size));
        var acceptedSeconds = total.Elapsed.TotalSeconds;
        Volatile.Write(ref phase, 2);
        var acceptEnd = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var storeAccepted = server.StoreBytes;
        Console.WriteLine($"spawn map of {size:N0} accepted after {acceptedSeconds:0.0} s; RSS peak so far {Mib(peakAccepting)}, store {Mib(storeAccepted)}");
        CallStatus status;
        while ((status = await client.SendAsync<object, CallStatus>(HttpMethod.Get, Routes.Call(call.Id), null, null, ProtocolJsonContext.Default.CallStatus, CancellationToken.None)).State != "done")
        {
            Console.WriteLine($"  {total.Elapsed.TotalSeconds:0} s: {status.Completed:N0} of {status.Total:N0} done, RSS {Mib(server.Rss)}");
            // A benchmark polling a status every two seconds; tests wait on events instead.
            await Task.Delay(2000);
        }
        var doneSeconds = total.Elapsed.TotalSeconds;
        await stop.CancelAsync();
        await prober;
        await sampler;
        var runEnd = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        probe.StandardInput.Close();
        var probes = await probeLines;
        await probe.WaitForExitAsync();
        peak = Math.Max(peak, server.PeakRss);
        var storeDone = server.StoreBytes;
        var inProcess = health.Where(h => h.Phase > 0).Select(h => h.Ms).Order().ToArray();
        failures += probes.Count(p => p.Ms < 0);
        var all = probes.Where(p => p.At >= acceptStart && p.At <= runEnd).Select(p => Math.Abs(p.Ms)).Order().ToArray();
        var during = probes.Where(p => p.At >= acceptStart && p.At <= acceptEnd).Select(p => Math.Abs(p.Ms)).Order().ToArray();
        var idleProbes = probes.Where(p => p.At < acceptStart).Select(p => Math.Abs(p.Ms)).Order().ToArray();
        return new Result(size, acceptedSeconds, doneSeconds,
            Percentile(all, 0.50), Percentile(all, 0.99), all.Length == 0 ? 0 : all[^1], all.Length, failures,
            Percentile(during, 0.99), during.Length == 0 ? 0 : during[^1], Percentile(idleProbes, 0.50), Percentile(idleProbes, 0.99),
            Percentile(inProcess, 0.50), Percentile(inProcess, 0.99), inProcess.Length == 0 ? 0 : inProcess[^1],
            idle, peak, peakAccepting, storeBefore, storeAccepted, storeDone);
    }

    public static IEnumerable<(string Name, string Ferry, string Floor, string Ratio)> Rows(Result r)
    {
        var n = $"{r.Inputs:N0}";
        yield return ($"spawn map of {n}: SpawnMapAsync returns (every input durable)", $"{r.AcceptedSeconds:0.0} s", "60 s (target)", Ratio(r.AcceptedSeconds, 60));
        yield return ($"  every input done", $"{r.DoneSeconds:0.0} s", $"{r.Inputs / r.DoneSeconds:N0} inputs/s", "");
        yield return ($"  health probe p50 / p99 / max, every 15 ms, from a separate process, whole run ({r.HealthSamples:N0} probes, {r.HealthFailures} failed)", $"{r.HealthP50Ms:0.0} / {r.HealthP99Ms:0.0} / {r.HealthMaxMs:0.0} ms", $"{r.IdleHealthP50Ms:0.0} / {r.IdleHealthP99Ms:0.0} ms p50 / p99 (idle server, 5 s before the map)", Ratio(r.HealthP99Ms, r.IdleHealthP99Ms));
        yield return ($"  the same probe from inside the benchmark process (which also uploads the inputs)", $"{r.InProcessP50Ms:0.0} / {r.InProcessP99Ms:0.0} / {r.InProcessMaxMs:0.0} ms", "", "");
        yield return ($"  health probe p99 against the target", $"{r.HealthP99Ms:0.0} ms", "50 ms (target)", Ratio(r.HealthP99Ms, 50));
        yield return ($"  health probe p99 / max while accepting", $"{r.AcceptHealthP99Ms:0.0} / {r.AcceptHealthMaxMs:0.0} ms", "50 ms p99 (target)", Ratio(r.AcceptHealthP99Ms, 50));
        yield return ($"  server RSS peak (idle {Mib(r.IdleRss)})", Mib(r.PeakRss), "1024 MiB (target)", Ratio(r.PeakRss / 1048576.0, 1024));
        yield return ($"  server RSS peak while accepting", Mib(r.PeakRssAccepting), "1024 MiB (target)", Ratio(r.PeakRssAccepting / 1048576.0, 1024));
        yield return ($"  store growth per input, inputs only (database and WAL files)", $"{(r.StoreAccepted - r.StoreBefore) / (double)r.Inputs:0} bytes", Mib(r.StoreAccepted - r.StoreBefore) + " in all", "");
        yield return ($"  store growth per input, with outcomes", $"{(r.StoreDone - r.StoreBefore) / (double)r.Inputs:0} bytes", Mib(r.StoreDone - r.StoreBefore) + " in all", "");
    }

    /// <summary>The probe loop of <c>--probe</c>: a GET every 15 ms until standard input closes; a failure prints a negative latency.</summary>
    public static async Task ProbeAsync(Uri url)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var stop = new CancellationTokenSource();
        _ = Task.Run(async () =>
        {
            await Console.In.ReadToEndAsync();
            await stop.CancelAsync();
        });
        using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(15));
        var output = Console.Out;
        while (!stop.IsCancellationRequested && await tick.WaitForNextTickAsync(CancellationToken.None))
        {
            var at = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var watch = Stopwatch.StartNew();
            double ms;
            try
            {
                using var response = await http.GetAsync(url, CancellationToken.None);
                response.EnsureSuccessStatusCode();
                ms = watch.Elapsed.TotalMilliseconds;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                ms = -watch.Elapsed.TotalMilliseconds;
            }
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{at} {ms:0.000}"));
        }
        await output.FlushAsync();
    }

    private static Process StartProbe(Uri url)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true };
        info.ArgumentList.Add(typeof(SpawnBench).Assembly.Location);
        info.ArgumentList.Add("--probe");
        info.ArgumentList.Add(url.ToString());
        return Process.Start(info)!;
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    private static string Mib(long bytes) => (bytes / 1024.0 / 1024.0).ToString("0", CultureInfo.InvariantCulture) + " MiB";

    private static string Ratio(double a, double b) => b <= 0 ? "" : (a / b).ToString("0.00", CultureInfo.InvariantCulture) + "x";
}
