using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace Ferry.Bench;

/// <summary>
/// A trivial GET web endpoint (the test app's <c>bench-hello</c>) under wrk: through the gateway, and straight to the
/// Kestrel of the container that serves it (the same handler, the same process, no gateway), in the same run and with
/// the same wrk settings, alternating so that a slow moment of the shared machine does not land on one side only.
/// A third side is the least any YARP gateway costs: a bare <see cref="IHttpForwarder"/> in this process that sends
/// every request to the same container, with no routing, no slots and no headers of its own. Then the first request to
/// the endpoint from zero containers.
/// </summary>
internal static partial class WebBench
{
    public sealed record Wrk(double RequestsPerSecond, double P50Ms, double P99Ms, long Errors);

    public sealed record Result(int Connections, Wrk Gateway, Wrk Kestrel, Wrk BareYarp);

    private const string Label = "bench-hello";

    public static async Task<(List<Result> Runs, double ColdMs, double ColdCallMs)> RunAsync(Harness harness, int[] connections, TimeSpan duration, int rounds)
    {
        if (!File.Exists("/usr/bin/wrk"))
        {
            throw new InvalidOperationException("wrk is not installed: apt-get install -y wrk");
        }
        var gateway = harness.Server.GatewayUrl ?? throw new InvalidOperationException("The harness's server runs no gateway.");
        var coldCall = await Measure.ColdStartAsync(harness, 3);
        var cold = new List<double>();
        string? appId = null;
        for (var i = 0; i < 3; i++)
        {
            appId = await harness.NewAppAsync();
            cold.Add(await FirstRequestAsync(new Uri(gateway, $"/{Label}/")));
        }
        // Warm containers from here on: the endpoint's pool has exactly one, with room for every connection.
        var container = harness.Server.Scheduler.PoolsOfApp(appId!).Single(p => p.PoolId == "Hello").Containers.Values.Single();
        var direct = $"http://{container.WebAddress}/";
        var throughGateway = new Uri(gateway, $"/{Label}/").ToString();
        await using var bare = await BareForwarderAsync(direct);
        foreach (var url in new[] { throughGateway, direct, bare.Url })
        {
            await WrkAsync(url, 8, TimeSpan.FromSeconds(3));
        }
        var runs = new List<Result>();
        foreach (var c in connections)
        {
            var viaGateway = new List<Wrk>();
            var viaKestrel = new List<Wrk>();
            var viaYarp = new List<Wrk>();
            for (var round = 0; round < rounds; round++)
            {
                viaGateway.Add(await WrkAsync(throughGateway, c, duration));
                viaKestrel.Add(await WrkAsync(direct, c, duration));
                viaYarp.Add(await WrkAsync(bare.Url, c, duration));
            }
            runs.Add(new Result(c, Median(viaGateway), Median(viaKestrel), Median(viaYarp)));
        }
        return (runs, cold.Order().ElementAt(cold.Count / 2), coldCall.Total);
    }

    private sealed record BareForwarder(WebApplication Web, HttpMessageInvoker Client, string Url) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Web.DisposeAsync();
            Client.Dispose();
        }
    }

    private static async Task<BareForwarder> BareForwarderAsync(string destination)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddHttpForwarder();
        var web = builder.Build();
        var client = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ActivityHeadersPropagator = null,
        });
        var forwarder = web.Services.GetRequiredService<IHttpForwarder>();
        web.Run(async http => await forwarder.SendAsync(http, destination, client));
        await web.StartAsync();
        var address = web.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new BareForwarder(web, client, address + "/");
    }

    private static Wrk Median(List<Wrk> runs) => new(
        runs.Select(r => r.RequestsPerSecond).Order().ElementAt(runs.Count / 2),
        runs.Select(r => r.P50Ms).Order().ElementAt(runs.Count / 2),
        runs.Select(r => r.P99Ms).Order().ElementAt(runs.Count / 2),
        runs.Sum(r => r.Errors));

    private static async Task<double> FirstRequestAsync(Uri url)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
        var watch = Stopwatch.StartNew();
        using var response = await http.GetAsync(url);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"The first request to {url} answered {(int)response.StatusCode}: {body}");
        }
        return watch.Elapsed.TotalMilliseconds;
    }

    private static async Task<Wrk> WrkAsync(string url, int connections, TimeSpan duration)
    {
        var info = new ProcessStartInfo("/usr/bin/wrk") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-t1", $"-c{connections}", $"-d{(int)duration.TotalSeconds}s", "--latency", url })
        {
            info.ArgumentList.Add(arg);
        }
        using var wrk = Process.Start(info)!;
        var output = wrk.StandardOutput.ReadToEndAsync();
        var error = wrk.StandardError.ReadToEndAsync();
        await wrk.WaitForExitAsync();
        var text = await output;
        if (wrk.ExitCode != 0)
        {
            throw new InvalidOperationException($"wrk failed ({wrk.ExitCode}): {await error}{text}");
        }
        var rate = double.Parse(RateLine().Match(text).Groups[1].Value, CultureInfo.InvariantCulture);
        double Percentile(string p)
        {
            var match = Regex.Match(text, $@"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", RegexOptions.Multiline);
            var value = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
            return match.Groups[2].Value switch { "us" => value / 1000, "s" => value * 1000, _ => value };
        }
        // Non-2xx answers and socket errors both count: a fast error is not a fast request.
        var errors = 0L;
        if (NonSuccess().Match(text) is { Success: true } non)
        {
            errors += long.Parse(non.Groups[1].Value, CultureInfo.InvariantCulture);
        }
        if (SocketErrors().Match(text) is { Success: true } socket)
        {
            errors += socket.Groups.Values.Skip(1).Sum(g => long.Parse(g.Value, CultureInfo.InvariantCulture));
        }
        return new Wrk(rate, Percentile("50"), Percentile("99"), errors);
    }

    [GeneratedRegex(@"Requests/sec:\s+([\d.]+)")]
    private static partial Regex RateLine();

    [GeneratedRegex(@"Non-2xx or 3xx responses:\s+(\d+)")]
    private static partial Regex NonSuccess();

    [GeneratedRegex(@"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")]
    private static partial Regex SocketErrors();
}
