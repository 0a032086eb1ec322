using Ferry.Protocol;
using Ferry.Server;
using Ferry.Server.Security;
using Ferry.Server.Storage;
using Ferry.Worker;
using Ferry.Worker.Runtimes;
using Microsoft.Extensions.Logging;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry server</c> and <c>ferry worker</c>.</summary>
internal static class ServeCommands
{
    public sealed record WorkerSettings(string Runtime, int MaxContainers, string? Gpus, double? Cpu, long? MemoryMiB, string? AptMirror = null, int? Placeholders = null);

    public sealed record TlsSettings(string? CertificatePath, string? KeyPath);

    /// <summary>Reads a duration such as <c>7d</c>, <c>12h</c>, <c>30m</c> or <c>90s</c>.</summary>
    public static TimeSpan ParseDuration(string text, string option)
    {
        var units = new Dictionary<char, TimeSpan> { ['d'] = TimeSpan.FromDays(1), ['h'] = TimeSpan.FromHours(1), ['m'] = TimeSpan.FromMinutes(1), ['s'] = TimeSpan.FromSeconds(1) };
        text = text.Trim();
        if (text.Length >= 2 && units.TryGetValue(char.ToLowerInvariant(text[^1]), out var unit)
            && double.TryParse(text[..^1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var count)
            && double.IsFinite(count) && count > 0 && count * unit.TotalDays <= 3650)
        {
            return unit * count;
        }
        throw new CliException($"{option} takes a positive duration of at most 10 years, such as 7d, 12h, 30m or 90s; not '{text}'.");
    }

    /// <summary>Reads <c>--lease-duration</c> and <c>--advertise-url</c>.</summary>
    public static Server.Replicas.ReplicaOptions ParseReplicas(string leaseDuration, string? advertiseUrl)
    {
        var lease = ParseDuration(leaseDuration, "--lease-duration");
        if (lease < TimeSpan.FromSeconds(1) || lease > TimeSpan.FromMinutes(10))
        {
            throw new CliException($"--lease-duration takes a duration from 1s to 10m; not '{leaseDuration}'.");
        }
        Uri? url = null;
        if (advertiseUrl is not null && (!Uri.TryCreate(advertiseUrl, UriKind.Absolute, out url) || url.Scheme is not ("http" or "https")))
        {
            throw new CliException($"--advertise-url takes an http or https URL such as https://10.0.5.1:7325; not '{advertiseUrl}'.");
        }
        return new Server.Replicas.ReplicaOptions { LeaseDuration = lease, AdvertisedUrl = url };
    }

    private static void PrepareDataDir(string dataDir) =>
        WritableDirectory.Prepare(dataDir, "The data directory", "Choose another directory with --data-dir.");

    /// <summary>
    /// The certificate to serve HTTPS with (see <see cref="TlsCertificates.Load"/>); one that is missing, unreadable or
    /// not a certificate is one line naming the files and the forms they take.
    /// </summary>
    internal static System.Security.Cryptography.X509Certificates.X509Certificate2 LoadCertificate(string? certificatePath, string? keyPath, string dataDir)
    {
        try
        {
            return TlsCertificates.Load(certificatePath, keyPath, dataDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            var files = certificatePath is null ? $"the certificate in {dataDir}" : keyPath is null ? $"'{certificatePath}'" : $"'{certificatePath}' and '{keyPath}'";
            throw new CliException($"Cannot load the TLS certificate from {files}: {e.Message} Pass a PEM certificate with --tls-cert and its key with --tls-key, or a PKCS#12 file with --tls-cert alone.");
        }
    }

    /// <summary>A listener's failure to bind, with the option that fixes it: <paramref name="portOption"/> or <c>--bind</c>.</summary>
    internal static CliException ListenError(string problem, ListenFailure failure, string portOption) => new(problem + " " + failure switch
    {
        ListenFailure.PortInUse => $"Choose another with {portOption}, or stop the program that holds it.",
        ListenFailure.PortReserved => $"Choose one of 1024 or above with {portOption}.",
        _ => "Choose one of its addresses with --bind, or 0.0.0.0 for all of them.",
    });

    public static async Task<int> ServerAsync(string dataDir, string? store, string bind, int port, bool embeddedWorker, WorkerSettings worker, string? stateFile, string tokenFile, TlsSettings tls, TimeSpan retention, bool verbose, CancellationToken cancellationToken, Server.Replicas.ReplicaOptions? replicas = null, int? gatewayPort = null)
    {
        var level = verbose ? LogLevel.Information : LogLevel.Warning;
        if (!System.Net.IPAddress.TryParse(bind, out var address))
        {
            throw new CliException($"'{bind}' is not an IP address to listen on, such as 127.0.0.1 or 0.0.0.0.");
        }
        PrepareDataDir(dataDir);
        // Off loopback, every byte crosses a network: the API is served over TLS only.
        var certificate = System.Net.IPAddress.IsLoopback(address) && tls.CertificatePath is null
            ? null
            : LoadCertificate(tls.CertificatePath, tls.KeyPath, dataDir);
        // The store location may carry a password: messages name it by StoreLocation.Describe only.
        string storeName;
        FerryServer server;
        try
        {
            storeName = StoreLocation.Describe(store, dataDir);
            server = await FerryServer.StartAsync(new ServerOptions
            {
                DataDir = dataDir, Store = store, Bind = bind, Port = port, LogLevel = level, Certificate = certificate, Retention = retention,
                Replicas = replicas ?? new(),
                Gateway = new Ferry.Server.Gateway.GatewayOptions { Port = gatewayPort },
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (StoreUnavailableException e)
        {
            throw new CliException(e.Message);
        }
        catch (ListenException e)
        {
            throw ListenError(e.Message, e.Failure, e.Listener == FerryServer.GatewayListener ? "--gateway-port" : "--port");
        }
        await using var running = server;
        try
        {
            await ControlPlane.EnsureTokenFileAsync(server, tokenFile, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"The token file '{tokenFile}' cannot be written: {e.Message} Choose another with --token-file.");
        }
        var fingerprint = certificate is null ? null : Credentials.Fingerprint(certificate);
        await using var agent = embeddedWorker
            ? await StartWorkerAsync(server.Url, await server.CreateTokenAsync("embedded", TokenKinds.Worker, ephemeral: true, cancellationToken).ConfigureAwait(false), fingerprint, Path.Combine(dataDir, "worker"), worker, level, Path.Combine(dataDir, "blobs"), cancellationToken).ConfigureAwait(false)
            : null;
        if (stateFile is not null)
        {
            await ControlPlane.WriteLocalStateAsync(stateFile, server.Url, cancellationToken).ConfigureAwait(false);
        }
        Console.Error.WriteLine($"Ferry {ProtocolInfo.Version} control plane listening on {server.Url} ({(StoreLocation.IsPostgres(store) ? $"state in {storeName}, blobs in {dataDir}" : $"data in {dataDir}")}){(agent is null ? "" : $", with a {agent.RuntimeName} worker")}.");
        if (server.GatewayUrl is { } gateway)
        {
            Console.Error.WriteLine($"Web gateway on {gateway}: endpoints at http://<label>.localhost:{gateway.Port}/ or {gateway}<label>/.");
        }
        Console.Error.WriteLine($"Every request needs a token; the client token is in {tokenFile}. Workers join with `ferry token create --kind worker`.");
        if (fingerprint is not null)
        {
            Console.Error.WriteLine($"TLS certificate SHA-256 fingerprint: {fingerprint}");
            if (tls.CertificatePath is null)
            {
                Console.Error.WriteLine($"The certificate is self-signed: clients trust it with {FerryEnv.ServerFingerprint}={fingerprint}.");
            }
        }
        // The web host takes SIGTERM and SIGINT for itself; its stopping token is the signal to shut down.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, server.Stopping);
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        Console.Error.WriteLine("Shutting down: stopping containers and the control plane.");
        if (stateFile is not null)
        {
            File.Delete(stateFile);
        }
        return 0;
    }

    public static async Task<int> WorkerAsync(IReadOnlyList<Uri> serverUrls, string? token, string dataDir, WorkerSettings worker, bool verbose, CancellationToken cancellationToken)
    {
        token ??= Environment.GetEnvironmentVariable(FerryEnv.Token);
        if (string.IsNullOrWhiteSpace(token))
        {
            throw new CliException("A worker joins with a join token: make one with `ferry token create --kind worker NAME` and pass it with --token or $FERRY_TOKEN.");
        }
        PrepareDataDir(dataDir);
        var fingerprint = Environment.GetEnvironmentVariable(FerryEnv.ServerFingerprint) is { Length: > 0 } pinned ? pinned : null;
        // One agent, with its own stream and build cache, per server replica: each replica starts its own containers here.
        var agents = new List<WorkerAgent>();
        await using var stopAgents = new AgentsScope(agents);
        for (var i = 0; i < serverUrls.Count; i++)
        {
            var agentDir = serverUrls.Count == 1 ? dataDir : Path.Combine(dataDir, $"server-{i + 1}");
            agents.Add(await StartWorkerAsync(serverUrls[i], token.Trim(), fingerprint, agentDir, worker, verbose ? LogLevel.Information : LogLevel.Warning, null, cancellationToken).ConfigureAwait(false));
            Console.Error.WriteLine($"Ferry worker serving {serverUrls[i]} with the {agents[^1].RuntimeName} runtime, up to {agents[^1].Resources.MaxContainers} containers.");
        }
        // System.CommandLine 2.0.0 leaves SIGTERM and SIGINT unhandled, so the process would end at once and leave its
        // containers behind. Taken here, as the web host takes them for `ferry server`, they stop the containers first.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        void Stop(System.Runtime.InteropServices.PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, Stop);
        using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, Stop);
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        Console.Error.WriteLine("Shutting down: stopping containers.");
        return 0;
    }

    /// <summary>Stops every agent started, the last first, however the command ends.</summary>
    private sealed class AgentsScope(List<WorkerAgent> agents) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            for (var i = agents.Count - 1; i >= 0; i--)
            {
                await agents[i].DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static async Task<WorkerAgent> StartWorkerAsync(Uri serverUrl, string token, string? fingerprint, string dataDir, WorkerSettings settings, LogLevel level, string? serverBlobDir, CancellationToken cancellationToken)
    {
        var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(level));
        var logger = loggers.CreateLogger("Ferry.Worker");
        var runtime = await RuntimeSelector.SelectAsync(settings.Runtime, dataDir, logger, settings.AptMirror, cancellationToken,
            Ferry.Worker.Runtimes.Placeholders.PlaceholderOptions.From(settings.Placeholders)).ConfigureAwait(false);
        var options = new WorkerOptions
        {
            ServerUrl = serverUrl,
            Token = token,
            ServerFingerprint = fingerprint,
            DataDir = dataDir,
            MaxContainers = settings.MaxContainers,
            Gpus = settings.Gpus is null ? null : GpuInventory.Parse(settings.Gpus),
            Cpu = settings.Cpu,
            MemoryMiB = settings.MemoryMiB,
            Runtime = runtime.Name,
            ServerBlobDir = serverBlobDir,
        };
        var agent = new WorkerAgent(options, runtime, logger);
        agent.Start();
        return agent;
    }
}
