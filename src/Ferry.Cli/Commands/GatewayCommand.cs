using System.Net;
using System.Runtime.InteropServices;
using Ferry.Protocol;
using Ferry.Server.Gateway;
using Ferry.Server.Security;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli.Commands;

/// <summary>
/// <c>ferry gateway</c>: a web gateway in a process of its own, serving the web endpoints of a control plane it reaches
/// over the API with a gateway token. A cluster runs as many as it wants behind one DNS name or load balancer.
/// </summary>
internal static class GatewayCommand
{
    /// <summary>The settings of one <c>ferry gateway</c>.</summary>
    public sealed record Settings(Uri ServerUrl, string? Token, string Bind, int Port, TimeSpan ColdStartTimeout, string? TlsCertificate, string? TlsKey, bool Verbose);

    public static async Task<int> RunAsync(Settings settings, CancellationToken cancellationToken)
    {
        var token = settings.Token ?? Environment.GetEnvironmentVariable(FerryEnv.Token);
        if (string.IsNullOrWhiteSpace(token))
        {
            throw new CliException("A gateway presents a gateway token: make one with `ferry token create --kind gateway NAME` and pass it with --token or $FERRY_TOKEN.");
        }
        if (!IPAddress.TryParse(settings.Bind, out var address))
        {
            throw new CliException($"'{settings.Bind}' is not an IP address to listen on, such as 127.0.0.1 or 0.0.0.0.");
        }
        if (settings.Port is < 0 or > 65535)
        {
            throw new CliException($"--port must be 0 to 65535, not {settings.Port}.");
        }
        if (settings.ColdStartTimeout > TimeSpan.FromMinutes(10))
        {
            throw new CliException($"--cold-start-timeout may be at most 10m; the server waits no longer for a slot.");
        }
        // Off loopback, proxy tokens cross a network: the gateway serves HTTPS, with a self-signed certificate by default.
        var certificate = IPAddress.IsLoopback(address) && settings.TlsCertificate is null
            ? null
            : ServeCommands.LoadCertificate(settings.TlsCertificate, settings.TlsKey, Path.Combine(FerryHome.Root, "gateway"));
        var level = settings.Verbose ? LogLevel.Information : LogLevel.Warning;
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(level));
        var fingerprint = Environment.GetEnvironmentVariable(FerryEnv.ServerFingerprint) is { Length: > 0 } pinned ? pinned : null;
        RemoteGatewayBackend backend;
        try
        {
            backend = await RemoteGatewayBackend.ConnectAsync(settings.ServerUrl, token.Trim(), fingerprint, TimeProvider.System, loggers.CreateLogger("Ferry.Gateway"), cancellationToken).ConfigureAwait(false);
        }
        catch (GatewayUnavailableException e)
        {
            throw new CliException(e.Message);
        }
        await using var stopBackend = backend;
        WebGateway gateway;
        var options = new GatewayOptions { ColdStartTimeout = settings.ColdStartTimeout };
        try
        {
            gateway = await WebGateway.StartAsync(options, address, settings.Port, certificate, backend, level, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (Ferry.Server.ListenException.FailureOf(e) is { } failure)
        {
            throw ServeCommands.ListenError(Ferry.Server.ListenException.Describe("gateway", failure, settings.Bind, settings.Port), failure, "--port");
        }
        catch (IOException e)
        {
            throw new CliException($"The gateway cannot listen on {settings.Bind}:{settings.Port}: {e.Message}");
        }
        await using var stopGateway = gateway;
        Console.Error.WriteLine($"Ferry gateway {backend.GatewayId} serving {settings.ServerUrl} on {gateway.Url}: endpoints at {gateway.Url.Scheme}://<label>.localhost:{gateway.Url.Port}/ or {gateway.Url}<label>/.");
        // As for `ferry worker`: SIGINT and SIGTERM stop the listener, then the slots still held are released.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        Console.Error.WriteLine("Shutting down the gateway: releasing its container slots.");
        return 0;
    }
}
