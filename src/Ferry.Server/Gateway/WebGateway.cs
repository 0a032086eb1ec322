using System.Net;
using System.Text.Json.Serialization;
using Ferry.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;
using HttpProtocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols;

namespace Ferry.Server.Gateway;

/// <summary>
/// The web gateway: its own Kestrel listener that finds a request's endpoint by host label or first path segment,
/// checks its proxy token, takes a slot in a ready container (waiting for a cold start if need be) and forwards the
/// request there with YARP's <see cref="IHttpForwarder"/>, streaming both ways, WebSockets included.
/// </summary>
internal sealed partial class WebGateway : IAsyncDisposable
{
    /// <summary>The correlation id on every forwarded request and every response.</summary>
    public const string RequestIdHeader = "Ferry-Request-Id";

    private readonly WebApplication _web;

    private WebGateway(WebApplication web, Uri url)
    {
        _web = web;
        Url = url;
    }

    /// <summary>Where the gateway listens, with 127.0.0.1 for a wildcard bind.</summary>
    public Uri Url { get; }

    public static async Task<WebGateway> StartAsync(
        GatewayOptions options, IPAddress bind, int port, System.Security.Cryptography.X509Certificates.X509Certificate2? certificate,
        IGatewayBackend backend, LogLevel logLevel, CancellationToken cancellationToken)
    {
        var builder = WebBuilders.CreateSlim();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.SetMinimumLevel(logLevel);
        // GatewayHandler.OnForwardErrorAsync answers and logs every failed forward in one line (to the app's logs when
        // the container is at fault); the forwarder's own warning repeats it with a stack trace, and a client that
        // sends a broken body would fill the server's log with them.
        builder.Logging.AddFilter("Yarp.ReverseProxy.Forwarder", LogLevel.Error);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            // Modal's web_server allows 64 KiB of headers; Kestrel's default is 32 KiB.
            kestrel.Limits.MaxRequestHeadersTotalSize = 64 * 1024;
            kestrel.Listen(bind, port, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                if (certificate is not null)
                {
                    listen.UseHttps(certificate);
                }
            });
        });
        builder.Services.AddHttpForwarder();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(backend);
        builder.Services.AddSingleton<GatewayHandler>();
        var web = builder.Build();
        var handler = web.Services.GetRequiredService<GatewayHandler>();
        web.Run(handler.HandleAsync);
        try
        {
            await web.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await web.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        var address = web.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new WebGateway(web, new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal).Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal)));
    }

    public async ValueTask DisposeAsync()
    {
        await _web.StopAsync().ConfigureAwait(false);
        await _web.Services.GetRequiredService<GatewayHandler>().DisposeAsync().ConfigureAwait(false);
        await _web.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>The body of every error the gateway itself answers.</summary>
/// <param name="Error">What went wrong, naming the label, limit or container problem.</param>
/// <param name="RequestId">The correlation id; the app's logs have the details under it.</param>
internal sealed record GatewayError(string Error, string RequestId);

[JsonSerializable(typeof(GatewayError))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class GatewayJsonContext : JsonSerializerContext;
