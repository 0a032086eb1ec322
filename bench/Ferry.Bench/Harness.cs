using System.Diagnostics;
using System.Globalization;
using Ferry.Cli;
using Ferry.Client;
using Ferry.Hosting;
using Ferry.Protocol;
using Ferry.Server;
using Ferry.TestApp;
using Ferry.Worker;
using Ferry.Worker.Runtimes;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Bench;

/// <summary>A control plane and a worker (process or runc runtime) in this process, serving the test app's build.</summary>
internal sealed class Harness : IAsyncDisposable
{
    private readonly string _dataDir;
    private readonly WorkerAgent _worker;
    private readonly FerryClient _admin;

    /// <summary>The client token every request of the benchmark presents.</summary>
    public string AdminToken => _admin.Token!;
    private readonly string _buildId;
    private string? _app;

    private Harness(string dataDir, FerryServer server, WorkerAgent worker, FerryClient admin, string buildId)
    {
        _dataDir = dataDir;
        Server = server;
        _worker = worker;
        _admin = admin;
        _buildId = buildId;
    }

    public FerryServer Server { get; }

    public TestFunctions Functions { get; } = new();

    public static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Ferry.slnx")))
            {
                dir = dir.Parent;
            }
            return dir?.FullName ?? throw new InvalidOperationException("Run the benchmark from inside the repository.");
        }
    }

    /// <summary>The test app's build output, built alongside this project.</summary>
    public static string AppDir
    {
        get
        {
            var config = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
            return Path.Combine(RepositoryRoot, "tests", "Ferry.TestApp", "bin", config, "net10.0");
        }
    }

    /// <summary>Where the runc base image is kept between runs: $FERRY_TEST_IMAGES, or the tests' default.</summary>
    public static string ImagesDir => Environment.GetEnvironmentVariable("FERRY_TEST_IMAGES") is { Length: > 0 } dir ? dir : "/var/lib/ferry-test/images";

    public static async Task<Harness> StartAsync(Func<string, IContainerRuntime>? runtime = null)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "ferry-bench-" + Guid.NewGuid().ToString("N")[..8]);
        var server = await FerryServer.StartAsync(new ServerOptions { DataDir = dataDir, Port = 0 });
        var workerDir = Path.Combine(dataDir, "worker");
        var workerToken = await server.CreateTokenAsync("bench-worker", TokenKinds.Worker, ephemeral: true);
        var worker = new WorkerAgent(new WorkerOptions { ServerUrl = server.Url, Token = workerToken, DataDir = workerDir, MaxContainers = 8, Gpus = [],
            ServerBlobDir = Path.Combine(dataDir, "blobs") }, runtime?.Invoke(workerDir) ?? new ProcessRuntime(), NullLogger.Instance);
        worker.Start();
        await server.WaitForWorkersAsync(1);
        var admin = new FerryClient(server.Url, await server.CreateTokenAsync("bench", ephemeral: true));
        var (buildId, _, _) = await ControlPlane.UploadAsync(admin, new BuiltProgram(AppDir, "Ferry.TestApp.dll", "bench", false), CancellationToken.None);
        return new Harness(dataDir, server, worker, admin, buildId);
    }

    /// <summary>Stops the previous app (and its containers) and makes a fresh one the SDK calls go to.</summary>
    public async Task<string> NewAppAsync()
    {
        if (_app is not null)
        {
            await _admin.SendAsync<object, AppSummary>(HttpMethod.Post, Routes.StopApp(_app), null, null, ProtocolJsonContext.Default.AppSummary, CancellationToken.None);
            var previous = _app;
            await Server.Scheduler.WaitUntilAsync(() => Server.Scheduler.PoolsOfApp(previous).All(p => p.Containers.Count == 0), CancellationToken.None);
        }
        var app = await _admin.SendAsync(HttpMethod.Post, Routes.Apps, new CreateAppRequest("bench", _buildId),
            ProtocolJsonContext.Default.CreateAppRequest, ProtocolJsonContext.Default.CreateAppResponse, CancellationToken.None);
        var client = new FerryClient(Server.Url, _admin.Token) { AppId = app.AppId };
        await client.PublishDefinitionAsync(Functions.App.ToDefinition(), CancellationToken.None);
        FerryContext.Override = client;
        _app = app.AppId;
        return app.AppId;
    }

    public async ValueTask DisposeAsync()
    {
        await _worker.DisposeAsync();
        await Server.DisposeAsync();
        _admin.Dispose();
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>The machine the figures come from.</summary>
internal static class Machine
{
    public static string Describe()
    {
        var cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        var memory = File.Exists("/proc/meminfo")
            ? File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]
            : "0";
        var gib = long.Parse(memory, CultureInfo.InvariantCulture) / 1024.0 / 1024.0;
        return $"Machine: {cpu ?? "unknown CPU"}, {Environment.ProcessorCount} cores, {gib:0.0} GiB RAM, " +
            $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}.";
    }
}
