using Ferry.Protocol;
using Ferry.Server.Api;
using Ferry.Server.Logs;
using Ferry.Server.Scheduling;
using Ferry.Server.Security;
using Microsoft.AspNetCore.Authentication;
using Ferry.Server.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.AspNetCore.Http;
using BadHttpRequestException = Microsoft.AspNetCore.Http.BadHttpRequestException;
using HttpProtocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ferry.Server;

/// <summary>How to run a control plane.</summary>
public sealed record ServerOptions
{
    /// <summary>Where the database, blobs and logs live.</summary>
    public required string DataDir { get; init; }

    /// <summary>
    /// Where the durable state lives. Null or empty (the default): SQLite in <see cref="DataDir"/>. A
    /// <c>postgres://USER:PASSWORD@HOST:PORT/DATABASE</c> URL or an Npgsql connection string: that PostgreSQL database,
    /// whose schema is created if missing. One server per database; blobs stay in <see cref="DataDir"/> either way.
    /// It may hold a password: name it by database, host and port in anything printed or logged, never as it is.
    /// </summary>
    public string? Store { get; init; }

    /// <summary>The address to listen on; loopback by default. Every route but <c>/health</c> needs a token.</summary>
    public string Bind { get; init; } = "127.0.0.1";

    /// <summary>Serve HTTPS with this certificate; required off loopback (see <see cref="Security.TlsCertificates"/>).</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? Certificate { get; init; }

    /// <summary>The port; 0 picks a free one.</summary>
    public int Port { get; init; } = 7325;

    /// <summary>The clock the scheduler reads; tests substitute a manual one.</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    public SchedulerOptions Scheduler { get; init; } = new();

    /// <summary>Heartbeats of ephemeral apps, and how often drained versions stop and schedules fire.</summary>
    public Deployments.DeploymentOptions Deployments { get; init; } = new();

    /// <summary>
    /// How long finished calls (their inputs and outputs), log lines and stopped apps are kept; 7 days by default, as
    /// Modal keeps results. Unfinished calls and running apps are kept whatever their age.
    /// </summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromDays(7);

    /// <summary>How often expired data is deleted; also once at start.</summary>
    public TimeSpan RetentionSweepInterval { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Secrets' key file, and Dicts' and Queues' expiry and limits.</summary>
    public Objects.ObjectOptions Objects { get; init; } = new();

    /// <summary>The lowest level of the server's own log output.</summary>
    public LogLevel LogLevel { get; init; } = LogLevel.Warning;

    /// <summary>
    /// Leases and forwarding when several servers share one PostgreSQL database (see docs/architecture.md); a server on
    /// SQLite is the only one on its file and takes no leases.
    /// </summary>
    public Replicas.ReplicaOptions Replicas { get; init; } = new();

    /// <summary>
    /// How long a container slot a standalone gateway (<c>ferry gateway</c>) leased stays taken without a renewal: a
    /// gateway that dies mid-request frees its slots this long (plus at most a second) after its last renewal. A live
    /// gateway renews every third of it. Default 10 seconds.
    /// </summary>
    public TimeSpan GatewayLeaseDuration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The web gateway that serves web endpoints, on its own port; null runs none. Default: on, see <see cref="GatewayOptions"/>.</summary>
    public Gateway.GatewayOptions? Gateway { get; init; } = new();
}

/// <summary>A running control plane: HTTP API, store, scheduler and log hub.</summary>
public sealed partial class FerryServer : IAsyncDisposable
{
    private readonly WebApplication _web;
    private readonly Gateway.WebGateway? _gateway;

    private FerryServer(WebApplication web, Uri url, Gateway.WebGateway? gateway)
    {
        _web = web;
        Url = url;
        _gateway = gateway;
    }

    /// <summary>The base address the server listens on.</summary>
    public Uri Url { get; }

    /// <summary>The web gateway's base URL, or null when the server runs none.</summary>
    public Uri? GatewayUrl => _gateway?.Url;

    internal Scheduler Scheduler => _web.Services.GetRequiredService<Scheduler>();

    internal Deployments.DeploymentService Deployments => _web.Services.GetRequiredService<Deployments.DeploymentService>();

    internal ICallStore CallStore => _web.Services.GetRequiredService<ICallStore>();

    internal Streaming.StreamRelay Streams => _web.Services.GetRequiredService<Streaming.StreamRelay>();

    /// <summary>The server's services, for benchmarks that time one of its parts alone.</summary>
    internal IServiceProvider Services => _web.Services;

    /// <summary>Every route the API serves, for tests that must cover all of them.</summary>
    internal IEnumerable<Microsoft.AspNetCore.Routing.RouteEndpoint> Routes =>
        ((Microsoft.AspNetCore.Routing.IEndpointRouteBuilder)_web).DataSources.SelectMany(d => d.Endpoints).OfType<Microsoft.AspNetCore.Routing.RouteEndpoint>();

    /// <summary>The listener <see cref="ListenException"/> names for the API's address.</summary>
    internal const string ControlPlaneListener = "control plane";

    /// <summary>The listener <see cref="ListenException"/> names for the gateway's address.</summary>
    internal const string GatewayListener = "web gateway";

    /// <summary>Opens the store, recovers unfinished work and starts listening.</summary>
    /// <exception cref="ListenException">The API's address, or the gateway's, cannot be bound for a reason the caller can fix.</exception>
    public static async Task<FerryServer> StartAsync(ServerOptions options, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(options.DataDir);
        var builder = WebBuilders.CreateSlim();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.SetMinimumLevel(options.LogLevel);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = ProtocolInfo.MaxRequestBytes;
            var address = System.Net.IPAddress.Parse(options.Bind);
            if (!System.Net.IPAddress.IsLoopback(address) && options.Certificate is null)
            {
                throw new InvalidOperationException($"Listening on {options.Bind}, off loopback, needs a TLS certificate: tokens must not cross a network in clear text.");
            }
            kestrel.Listen(address, options.Port, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                if (options.Certificate is { } certificate)
                {
                    listen.UseHttps(certificate);
                }
            });
        });
        var replicated = StoreLocation.IsPostgres(options.Store);
        if (replicated)
        {
            options.Replicas.Validate();
        }
        var store = StoreLocation.Create(options.Store, options.DataDir);
        try
        {
            await store.InitializeAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        // One store under each interface, registered as an instance so that the container never disposes it: the
        // server closes it last, after the scheduler.
        builder.Services.AddSingleton<IStore>(store);
        builder.Services.AddSingleton<IAppStore>(store);
        builder.Services.AddSingleton<ICallStore>(store);
        builder.Services.AddSingleton<ILogStore>(store);
        builder.Services.AddSingleton<IImageStore>(store);
        builder.Services.AddSingleton<ITokenStore>(store);
        builder.Services.AddSingleton<IRetentionStore>(store);
        builder.Services.AddSingleton<IObjectStore>(store);
        builder.Services.AddSingleton<IVolumeStore>(store);
        options.Objects.Validate();
        builder.Services.AddSingleton(Objects.SecretVault.Open(options.Objects.SecretKeyFile ?? Path.Combine(options.DataDir, "secrets.key")));
        builder.Services.AddSingleton<Objects.SecretRegistry>();
        builder.Services.AddSingleton<Objects.DictService>();
        builder.Services.AddSingleton<Objects.QueueService>();
        builder.Services.AddSingleton<Objects.VolumeService>();
        builder.Services.AddSingleton<Objects.ObjectSweeper>();
        builder.Services.AddSingleton<IDeploymentStore>(store);
        builder.Services.AddSingleton(options.Deployments);
        builder.Services.AddSingleton<Deployments.DeploymentService>();
        builder.Services.AddSingleton<ILeaseStore>(store);
        builder.Services.AddSingleton<IBlobStore>(new FileBlobStore(Path.Combine(options.DataDir, "blobs")));
        builder.Services.AddSingleton(options.Clock);
        builder.Services.AddSingleton(options.Scheduler);
        builder.Services.AddSingleton<LogHub>();
        builder.Services.AddSingleton<Sessions.SessionBroker>();
        if (replicated)
        {
            Replicas.ReplicaServices.Add(builder.Services, options.Replicas);
        }
        else
        {
            builder.Services.AddSingleton<Scheduler>();
        }
        builder.Services.AddSingleton<Streaming.StreamRelay>();
        builder.Services.AddSingleton<TokenRegistry>();
        builder.Services.AddSingleton(services => new Gateway.GatewayLeases(
            services.GetRequiredService<Scheduler>().ReleaseWeb, options.GatewayLeaseDuration, options.Clock));
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<Retention.RetentionSweeper>();
        builder.Services.AddAuthentication(TokenAuthentication.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, TokenAuthentication>(TokenAuthentication.SchemeName, null);
        builder.Services.AddAuthorization(Policies.Add);
        Security.MemoryKeyRing.Use(builder.Services);

        var web = builder.Build();
        // A peer that stops answering pings is dropped, so a worker id held by a dead connection frees up.
        web.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(15), KeepAliveTimeout = TimeSpan.FromSeconds(30) });
        web.Use(Requests.AnswerErrorsAsync);
        web.UseAuthentication();
        web.UseAuthorization();
        if (replicated)
        {
            web.Use(web.Services.GetRequiredService<Replicas.ReplicaRouting>().HandleAsync);
        }
        Endpoints.Map(web);
        web.MapFallback((HttpContext http) => Results.Json(
            new ErrorResponse(ErrorCodes.NotFound, $"No endpoint answers {http.Request.Method} {http.Request.Path}."),
            ProtocolJsonContext.Default.ErrorResponse, statusCode: StatusCodes.Status404NotFound));

        await web.Services.GetRequiredService<TokenRegistry>().LoadAsync(cancellationToken).ConfigureAwait(false);
        await web.Services.GetRequiredService<Objects.SecretRegistry>().LoadAsync(cancellationToken).ConfigureAwait(false);
        await web.Services.GetRequiredService<Scheduler>().StartAsync(cancellationToken).ConfigureAwait(false);
        await web.Services.GetRequiredService<Deployments.DeploymentService>().StartAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await web.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (ListenException.FailureOf(e) is { } failure)
        {
            await web.DisposeAsync().ConfigureAwait(false);
            throw new ListenException(ControlPlaneListener, failure, options.Bind, options.Port, e);
        }
        web.Services.GetRequiredService<Retention.RetentionSweeper>().Start();
        web.Services.GetRequiredService<Gateway.GatewayLeases>();
        web.Services.GetRequiredService<Objects.ObjectSweeper>().Start();
        var address = web.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var url = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal).Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal));
        if (replicated)
        {
            await web.Services.GetRequiredService<Replicas.ReplicaCoordinator>().StartAsync(url, cancellationToken).ConfigureAwait(false);
        }
        Gateway.WebGateway? gateway = null;
        if (options.Gateway is { } gatewayOptions)
        {
            var scheduler = web.Services.GetRequiredService<Scheduler>();
            var gatewayPort = gatewayOptions.Port ?? (options.Port == 0 ? 0 : options.Port + 1);
            Task<Gateway.WebGateway> StartGatewayAsync(int port) => Gateway.WebGateway.StartAsync(gatewayOptions,
                System.Net.IPAddress.Parse(gatewayOptions.Bind ?? options.Bind), port, options.Certificate,
                new Gateway.InProcessGatewayBackend(scheduler, web.Services.GetRequiredService<TokenRegistry>(), web.Services.GetRequiredService<LogHub>()),
                options.LogLevel, cancellationToken);
            try
            {
                gateway = await StartGatewayAsync(gatewayPort).ConfigureAwait(false);
            }
            catch (IOException e) when (gatewayOptions.Port is null && gatewayPort != 0 && ListenException.FailureOf(e) == ListenFailure.PortInUse)
            {
                // Only the default port (the server's plus one) gives way: a port the operator chose fails the start.
                LogGatewayPortTaken(web.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Ferry.Server.Gateway"), gatewayPort);
                gateway = await StartGatewayAsync(0).ConfigureAwait(false);
            }
            catch (Exception e) when (ListenException.FailureOf(e) is { } failure)
            {
                await web.DisposeAsync().ConfigureAwait(false);
                throw new ListenException(GatewayListener, failure, gatewayOptions.Bind ?? options.Bind, gatewayPort, e);
            }
            scheduler.GatewayUrl = gateway.Url;
        }
        return new FerryServer(web, url, gateway);
    }

    /// <summary>
    /// Issues a token and returns it as <c>TOKEN_ID.SECRET</c>, the only time the secret is seen. An ephemeral token
    /// is not stored and ends with this process: the embedded worker joins with one.
    /// </summary>
    public async Task<string> CreateTokenAsync(string name, string kind = TokenKinds.Client, bool ephemeral = false, CancellationToken cancellationToken = default) =>
        (await _web.Services.GetRequiredService<TokenRegistry>().CreateAsync(name, kind, ephemeral, cancellationToken).ConfigureAwait(false)).Secret;

    /// <summary>True when <paramref name="token"/> is a live client token of this server.</summary>
    public bool AcceptsClientToken(string token) =>
        token.Split('.', 2) is [var id, var secret] && _web.Services.GetRequiredService<TokenRegistry>().Authenticate(id, secret) is { Kind: TokenKinds.Client };

    /// <summary>Cancelled when the host is asked to stop, for example by SIGTERM or Ctrl+C.</summary>
    public CancellationToken Stopping => _web.Lifetime.ApplicationStopping;

    /// <summary>Resolves once <paramref name="count"/> workers are connected.</summary>
    public Task WaitForWorkersAsync(int count, CancellationToken cancellationToken = default) =>
        Scheduler.WaitForWorkersAsync(count, cancellationToken);

    /// <summary>Runs one retention pass now, at the configured clock's time.</summary>
    internal Task SweepRetentionAsync() => _web.Services.GetRequiredService<Retention.RetentionSweeper>().SweepAsync(CancellationToken.None);

    /// <summary>Deletes expired dict entries and queue partitions now, at the configured clock's time.</summary>
    internal Task<int> SweepObjectsAsync() => _web.Services.GetRequiredService<Objects.ObjectSweeper>().SweepAsync(CancellationToken.None);

    /// <summary>Runs one pass of drains, heartbeat expiries and schedules now, at the configured clock's time.</summary>
    internal Task RunDeploymentPassAsync() => _web.Services.GetRequiredService<Deployments.DeploymentService>().RunOnceAsync(CancellationToken.None);

    /// <summary>Runs one autoscaler and timer pass now, at the configured clock's time.</summary>
    public void Tick() => Scheduler.Tick();

    public async ValueTask DisposeAsync()
    {
        var scheduler = _web.Services.GetRequiredService<Scheduler>();
        var store = _web.Services.GetRequiredService<IStore>();
        await _web.Services.GetRequiredService<Retention.RetentionSweeper>().DisposeAsync().ConfigureAwait(false);
        await _web.Services.GetRequiredService<Objects.ObjectSweeper>().DisposeAsync().ConfigureAwait(false);
        if (_gateway is not null)
        {
            await _gateway.DisposeAsync().ConfigureAwait(false);
        }
        await _web.StopAsync().ConfigureAwait(false);
        await _web.Services.GetRequiredService<Deployments.DeploymentService>().DisposeAsync().ConfigureAwait(false);
        if (_web.Services.GetService<Replicas.ReplicaCoordinator>() is { } coordinator)
        {
            await coordinator.DisposeAsync().ConfigureAwait(false);
        }
        await scheduler.DisposeAsync().ConfigureAwait(false);
        await _web.DisposeAsync().ConfigureAwait(false);
        await store.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The web gateway's default port {Port} is taken; it listens on a free port instead (set --gateway-port to choose one).")]
    private static partial void LogGatewayPortTaken(ILogger logger, int port);
}
