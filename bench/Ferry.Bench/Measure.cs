using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ferry.Bench;

internal sealed record Latency(double P50, double P99, double Mean);

internal sealed record ColdStart(double Total, double Schedule, double ProcessStart, double Ready, double FirstOutput);

internal static class Measure
{
    private static Latency Summarize(List<double> samples)
    {
        samples.Sort();
        return new Latency(samples[samples.Count / 2], samples[(int)Math.Min(samples.Count - 1, Math.Ceiling(samples.Count * 0.99) - 1)], samples.Average());
    }

    /// <summary>
    /// Calls made and not counted before a latency is sampled, the same for Ferry and for the echo. A new container and
    /// the control plane compile their hot paths in the background during the first seconds of calls (tier 0 to tier
    /// 1). After 200 calls, most of the 2,000 samples still fell in that phase: on a quiet machine their p50 was
    /// 0.86-1.04 ms, where 20,000 calls after the same 200 had a p50 of 0.55 ms (bench/RESULTS.md, 2026-11-30
    /// 11:42-12:20). Timed in windows of 1,000 from the first call, the p50 still fell until about the 7,000th call
    /// (0.90, 0.82, 0.69, 0.61, 0.57, 0.54, 0.48, then 0.45-0.47 ms), and the p99 of the 2,000 after 5,000 was 3.27 ms
    /// where the next windows had 0.87-1.83 (RESULTS.md, 2026-11-30 19:25). A warm call is one after that phase.
    /// </summary>
    private const int WarmUpCalls = 10_000;

    /// <summary>A loopback HTTP echo: the least a remote call over HTTP on this machine can cost.</summary>
    private static async Task<(WebApplication Web, HttpClient Client)> StartEchoAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var web = builder.Build();
        web.MapPost("/echo", async (HttpContext http) =>
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body);
            http.Response.ContentType = "application/json";
            await http.Response.Body.WriteAsync(body.ToArray());
        });
        await web.StartAsync();
        var address = web.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return (web, new HttpClient { BaseAddress = new Uri(address) });
    }

    public static async Task<Latency> EchoLatencyAsync(int count)
    {
        var (web, client) = await StartEchoAsync();
        await using (web)
        using (client)
        {
            var samples = new List<double>(count);
            for (var i = -WarmUpCalls; i < count; i++)
            {
                var watch = Stopwatch.StartNew();
                using var response = await client.PostAsync("/echo", new StringContent("[7]"));
                await response.Content.ReadAsByteArrayAsync();
                if (i >= 0)
                {
                    samples.Add(watch.Elapsed.TotalMilliseconds);
                }
            }
            return Summarize(samples);
        }
    }

    public static async Task<double> EchoThroughputAsync(int count)
    {
        var (web, client) = await StartEchoAsync();
        await using (web)
        using (client)
        {
            var next = 0;
            var watch = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
            {
                while (Interlocked.Increment(ref next) <= count)
                {
                    using var response = await client.PostAsync("/echo", new StringContent("[7]"));
                    await response.Content.ReadAsByteArrayAsync();
                }
            }));
            return count / watch.Elapsed.TotalSeconds;
        }
    }

    public static async Task<Latency> WarmLatencyAsync(Harness harness, int count)
    {
        await harness.NewAppAsync();
        var square = harness.Functions.Square;
        var samples = new List<double>(count);
        for (var i = -WarmUpCalls; i < count; i++)
        {
            var watch = Stopwatch.StartNew();
            await square.RemoteAsync(i);
            if (i >= 0)
            {
                samples.Add(watch.Elapsed.TotalMilliseconds);
            }
        }
        return Summarize(samples);
    }

    /// <summary>
    /// What checking one request's credential costs: the server's own authentication handler and authorization
    /// policy, run on a request that carries a client token (and on one with a live container's token, which also
    /// finds the container), without the rest of the request. A warm call makes about two such requests.
    /// </summary>
    public static async Task<(double ClientMicros, double ContainerMicros)> CredentialCheckAsync(Harness harness, int count)
    {
        await harness.NewAppAsync();
        await harness.Functions.Square.RemoteAsync(1);
        var services = harness.Server.Services;
        var container = harness.Server.Scheduler.ListContainers(null).First().ContainerId;
        var containerToken = $"{container}.{harness.Server.Scheduler.FindContainer(container)!.Token}";
        var authorization = services.GetRequiredService<Microsoft.AspNetCore.Authorization.IAuthorizationService>();
        var policies = services.GetRequiredService<Microsoft.AspNetCore.Authorization.IAuthorizationPolicyProvider>();
        async Task<double> TimeAsync(string token, Microsoft.AspNetCore.Authorization.AuthorizationPolicy policy)
        {
            var http = new DefaultHttpContext { RequestServices = services };
            http.Request.Headers.Authorization = "Bearer " + token;
            var watch = new Stopwatch();
            for (var i = -2_000; i < count; i++)
            {
                if (i == 0)
                {
                    watch.Start();
                }
                var result = await Microsoft.AspNetCore.Authentication.AuthenticationHttpContextExtensions.AuthenticateAsync(http, Ferry.Server.Security.TokenAuthentication.SchemeName);
                if (!(await authorization.AuthorizeAsync(result.Principal!, null, policy.Requirements)).Succeeded)
                {
                    throw new InvalidOperationException("The benchmark's credential was refused.");
                }
            }
            return watch.Elapsed.TotalMilliseconds * 1000 / count;
        }
        var client = await TimeAsync(harness.AdminToken, (await policies.GetFallbackPolicyAsync())!);
        var containerCheck = await TimeAsync(containerToken, (await policies.GetPolicyAsync(Ferry.Server.Security.Policies.ClientOrContainer))!);
        return (client, containerCheck);
    }

    /// <summary>Inputs per second through a map of <paramref name="count"/> on a new app, after a map of 200 warms it.</summary>
    /// <param name="untiered">Map the function whose containers run with tiered compilation off.</param>
    public static async Task<double> MapThroughputAsync(Harness harness, int count, bool untiered = false)
    {
        await harness.NewAppAsync();
        var square = untiered ? harness.Functions.SquareUntiered : harness.Functions.Square;
        await foreach (var _ in square.MapAsync(Enumerable.Range(0, 200)))
        {
        }
        await WaitUntilContainersReadyAsync(square);
        var watch = Stopwatch.StartNew();
        var received = 0;
        await foreach (var _ in square.MapAsync(Enumerable.Range(0, count)))
        {
            received++;
        }
        return received / watch.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// Waits until every container of <paramref name="function"/> is ready and idle. A warm-up map fans out before its
    /// function is measured, and may start containers it never uses; a map timed while they still start would count
    /// their start-up, which the cold-start measures take on their own.
    /// </summary>
    private static async Task WaitUntilContainersReadyAsync(Function<int, int> function)
    {
        var deadline = Stopwatch.StartNew();
        while ((await function.GetCurrentStatsAsync()) is { } stats && stats.Containers != stats.IdleContainers)
        {
            if (deadline.Elapsed > TimeSpan.FromMinutes(1))
            {
                throw new TimeoutException($"The warm-up's {stats.Containers} containers were not all ready and idle after a minute.");
            }
            await Task.Delay(20);
        }
    }

    /// <summary>Items per second from a generator of small items (ints) in a warm container to the caller.</summary>
    public static async Task<double> GeneratorThroughputAsync(Harness harness, int count)
    {
        await harness.NewAppAsync();
        var ticks = harness.Functions.Ticks;
        await foreach (var _ in ticks.RemoteStreamAsync(2_000))
        {
        }
        var watch = Stopwatch.StartNew();
        var received = 0;
        await foreach (var _ in ticks.RemoteStreamAsync(count))
        {
            received++;
        }
        return received / watch.Elapsed.TotalSeconds;
    }

    /// <summary>Starting the same program with no Ferry mode: it prints one line and exits.</summary>
    public static async Task<double> BareStartAsync(int samples)
    {
        var times = new List<double>();
        for (var i = 0; i < samples; i++)
        {
            var info = new ProcessStartInfo("dotnet", Path.Combine(Harness.AppDir, "Ferry.TestApp.dll")) { RedirectStandardError = true, RedirectStandardOutput = true };
            var watch = Stopwatch.StartNew();
            using var process = Process.Start(info)!;
            await process.StandardError.ReadLineAsync();
            times.Add(watch.Elapsed.TotalMilliseconds);
            await process.WaitForExitAsync();
        }
        times.Sort();
        return times[times.Count / 2];
    }

    /// <summary>
    /// The runc floor: <c>runc run</c> of the same program, in a bundle like the worker's (overlay over the same base,
    /// same mounts, namespaces and cgroup), with no Ferry mode, to its first line of output.
    /// </summary>
    public static async Task<double> BareRuncStartAsync(string baseImage, int samples)
    {
        var times = new List<double>();
        var root = Path.Combine(Path.GetTempPath(), "ferry-bench-runc-" + Guid.NewGuid().ToString("N")[..8]);
        var state = Path.Combine(root, "state");
        for (var i = 0; i < samples; i++)
        {
            var id = $"bench-floor-{i}";
            var bundle = Path.Combine(root, id);
            var rootfs = Path.Combine(bundle, "rootfs");
            foreach (var dir in new[] { rootfs, Path.Combine(bundle, "upper"), Path.Combine(bundle, "work"), state })
            {
                Directory.CreateDirectory(dir);
            }
            await RunAsync("mount", "-t", "overlay", "overlay", "-o", $"lowerdir={baseImage},upperdir={bundle}/upper,workdir={bundle}/work", rootfs);
            await File.WriteAllTextAsync(Path.Combine(bundle, "hosts"), "127.0.0.1\tlocalhost\n");
            var spec = new Ferry.Worker.Runtimes.ContainerSpec(id, Harness.AppDir, "Ferry.TestApp.dll", new Dictionary<string, string>(), new Ferry.Protocol.FunctionSettings(), []);
            var image = new Ferry.Worker.Images.ResolvedImage("floor", [baseImage], [], null, [], 0, 0);
            await File.WriteAllTextAsync(Path.Combine(bundle, "config.json"), Ferry.Worker.Runtimes.Runc.RuncRuntime.Config(spec, image, null).ToJsonString());
            var info = new ProcessStartInfo("runc", ["--root", state, "run", "--bundle", bundle, id]) { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true };
            var watch = Stopwatch.StartNew();
            using (var process = Process.Start(info)!)
            {
                process.StandardInput.Close();
                await process.StandardError.ReadLineAsync();
                times.Add(watch.Elapsed.TotalMilliseconds);
                await process.WaitForExitAsync();
            }
            await RunAsync("runc", "--root", state, "delete", "-f", id);
            await RunAsync("umount", rootfs);
        }
        await RunAsync("rm", "-rf", "--one-file-system", root);
        times.Sort();
        return times[times.Count / 2];
    }

    private static async Task RunAsync(string file, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        await process.WaitForExitAsync();
    }

    /// <summary>How long an image whose layers are all cached takes to resolve: the cache check before every runc start.</summary>
    public static async Task<double> ImageCacheCheckAsync()
    {
        var dir = Path.Combine(Path.GetTempPath(), "ferry-bench-images-" + Guid.NewGuid().ToString("N")[..8]);
        await using var network = new Ferry.Worker.Runtimes.Runc.ContainerNetwork(dir);
        var builder = new Ferry.Worker.Images.ImageBuilder(dir, Path.Combine(dir, "state"), new Ferry.Worker.Images.BaseImage(Harness.ImagesDir, null), network);
        var spec = new Ferry.Protocol.ImageSpec("debian-bookworm-minbase", [
            new(Ferry.Protocol.ImageStepKinds.AptInstall, ["jq"]),
            new(Ferry.Protocol.ImageStepKinds.Env, ["A=1"]),
            new(Ferry.Protocol.ImageStepKinds.RunCommands, ["echo hi > /hi"]),
        ]);
        var request = new Ferry.Worker.Images.ImageRequest("bench", Harness.AppDir, "Ferry.TestApp.dll", null!);
        await builder.EnsureAsync(spec, request, _ => { }, CancellationToken.None);
        var times = new List<double>();
        for (var i = 0; i < 50; i++)
        {
            var watch = Stopwatch.StartNew();
            await builder.EnsureAsync(spec, request, _ => { }, CancellationToken.None);
            times.Add(watch.Elapsed.TotalMilliseconds);
        }
        await RunAsync("rm", "-rf", "--one-file-system", dir);
        times.Sort();
        return times[times.Count / 2];
    }

    /// <summary>Cold starts on two harnesses, one sample of each in turn; the medians of each.</summary>
    public static async Task<(ColdStart First, ColdStart Second)> ColdStartPairAsync(Harness first, Harness second, int samples)
    {
        var (a, b) = (new List<ColdStart>(), new List<ColdStart>());
        for (var i = 0; i < samples; i++)
        {
            a.Add(await ColdStartAsync(first, 1));
            b.Add(await ColdStartAsync(second, 1));
        }
        return (Median(a), Median(b));
    }

    private static ColdStart Median(List<ColdStart> runs)
    {
        double Of(Func<ColdStart, double> pick) => runs.Select(pick).Order().ElementAt(runs.Count / 2);
        return new ColdStart(Of(r => r.Total), Of(r => r.Schedule), Of(r => r.ProcessStart), Of(r => r.Ready), Of(r => r.FirstOutput));
    }

    /// <summary>
    /// What one container's network costs the worker: setting up its namespace, veth pair and address, and removing
    /// them; medians over <paramref name="samples"/> containers, after the worker's bridge and table exist.
    /// </summary>
    public static async Task<(double Setup, double Teardown)> NetworkSetupAsync(int samples)
    {
        var dir = Path.Combine(Path.GetTempPath(), "ferry-bench-net-" + Guid.NewGuid().ToString("N")[..8]);
        var (setup, teardown) = (new List<double>(), new List<double>());
        await using (var network = new Ferry.Worker.Runtimes.Runc.ContainerNetwork(dir))
        {
            network.Detach(await network.AttachAsync("bench-net-warmup", CancellationToken.None));
            for (var i = 0; i < samples; i++)
            {
                var watch = Stopwatch.StartNew();
                var attachment = await network.AttachAsync($"bench-net-{i}", CancellationToken.None);
                setup.Add(watch.Elapsed.TotalMilliseconds);
                watch.Restart();
                network.Detach(attachment);
                teardown.Add(watch.Elapsed.TotalMilliseconds);
            }
        }
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }
        return (setup.Order().ElementAt(samples / 2), teardown.Order().ElementAt(samples / 2));
    }

    /// <summary>From a call on an app with no containers to its result, with the scheduler's timestamps as phases.</summary>
    /// <param name="settled">
    /// When given, each sample first waits for the new app's min container (the test app's <c>warm</c>) to be ready and
    /// then for this, so the sample is the cold start alone, not two at once.
    /// </param>
    public static async Task<ColdStart> ColdStartAsync(Harness harness, int samples, Func<Task>? settled = null)
    {
        var runs = new List<ColdStart>();
        for (var i = 0; i < samples; i++)
        {
            var appId = await harness.NewAppAsync();
            if (settled is not null)
            {
                await harness.Server.Scheduler.WaitUntilAsync(() => harness.Server.Scheduler.PoolsOfApp(appId).Any(p => p.PoolId == "warm"
                    && p.Containers.Values.Any(c => c.Status == Ferry.Server.Scheduling.ContainerStatus.Ready)), CancellationToken.None);
                await settled();
            }
            var called = DateTimeOffset.UtcNow;
            var watch = Stopwatch.StartNew();
            await harness.Functions.Square.RemoteAsync(3);
            var total = watch.Elapsed.TotalMilliseconds;
            var container = harness.Server.Scheduler.PoolsOfApp(appId).Single(p => p.PoolId == "square").Containers.Values.Single();
            var schedule = (container.CreatedAt - called).TotalMilliseconds;
            var ready = (container.ReadyAt - container.CreatedAt).TotalMilliseconds - container.ProcessStartMs;
            runs.Add(new ColdStart(total, schedule, container.ProcessStartMs, ready, total - schedule - container.ProcessStartMs - ready));
        }
        double Median(Func<ColdStart, double> pick) => runs.Select(pick).Order().ElementAt(runs.Count / 2);
        return new ColdStart(Median(r => r.Total), Median(r => r.Schedule), Median(r => r.ProcessStart), Median(r => r.Ready), Median(r => r.FirstOutput));
    }
}
