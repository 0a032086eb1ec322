using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ferry.IntegrationTests;

/// <summary>
/// Counts the executions of the test app's <c>counted</c> function per index: each execution POSTs its index here. It
/// listens on the host's primary address, which runc containers reach (the host's loopback they do not).
/// </summary>
internal sealed class ExecutionCounter : IAsyncDisposable
{
    private readonly WebApplication _web;
    private readonly int[] _counts;
    private long _total;

    private ExecutionCounter(WebApplication web, int size)
    {
        _web = web;
        _counts = new int[size];
    }

    /// <summary>The URL the function is given; it appends the index.</summary>
    public string Url { get; private set; } = "";

    /// <summary>Executions reported so far.</summary>
    public long Total => Interlocked.Read(ref _total);

    /// <summary>Starts a counter of indices 0 to <paramref name="size"/> - 1.</summary>
    public static async Task<ExecutionCounter> StartAsync(int size)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var address = PrimaryAddress();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(address, 0));
        var web = builder.Build();
        var counter = new ExecutionCounter(web, size);
        web.Run(counter.Count);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await web.StartAsync(timeout.Token);
        counter.Url = web.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/";
        return counter;
    }

    private Task Count(HttpContext http)
    {
        if (!int.TryParse((http.Request.Path.Value ?? "/").AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var index) || index >= _counts.Length)
        {
            http.Response.StatusCode = StatusCodes.Status400BadRequest;
            return Task.CompletedTask;
        }
        Interlocked.Increment(ref _counts[index]);
        Interlocked.Increment(ref _total);
        http.Response.StatusCode = StatusCodes.Status204NoContent;
        return Task.CompletedTask;
    }

    /// <summary>A copy of the counts by index.</summary>
    public int[] Snapshot() => [.. _counts.Select((_, i) => Volatile.Read(ref _counts[i]))];

    /// <summary>The IPv4 address of the interface that holds the default route.</summary>
    public static IPAddress PrimaryAddress() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.GetIPProperties().GatewayAddresses.Any(g => g.Address.AddressFamily == AddressFamily.InterNetwork))
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .First(a => a.Address.AddressFamily == AddressFamily.InterNetwork)
            .Address;

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _web.StopAsync(timeout.Token);
        await _web.DisposeAsync();
    }
}
