using Ferry.Cli;
using Ferry.Client;
using Ferry.Hosting;
using Ferry.Protocol;
using Ferry.Server;
using Ferry.Server.Scheduling;
using Ferry.TestApp;
using Ferry.Worker;
using Ferry.Worker.Runtimes;
using Microsoft.Extensions.Logging.Abstractions;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Ferry.IntegrationTests;

/// <summary>A settable clock for tests where time matters: it moves only when told.</summary>
public sealed class ManualClock : TimeProvider
{
    private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>
/// A real control plane on loopback with a real worker that runs the test app's build as container processes. Each
/// test gets a fresh app, so pools and containers never carry over between tests.
/// </summary>
public class ServerFixture : IAsyncLifetime
{
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "ferry-it-" + Guid.NewGuid().ToString("N")[..8]);
    private WorkerAgent? _worker;
    private FerryClient? _admin;
    private string? _buildId;
    private string? _currentApp;

    protected virtual TimeProvider Clock => TimeProvider.System;

    /// <summary>How many containers the fixture's worker runs at once.</summary>
    protected virtual int WorkerSlots => 8;

    protected virtual IReadOnlyList<Ferry.Protocol.GpuDevice> Gpus => [];

    protected virtual IContainerRuntime CreateRuntime(string workerDir) => new ProcessRuntime();

    /// <summary>A TLS certificate to serve HTTPS with; clients pin its fingerprint.</summary>
    protected virtual System.Security.Cryptography.X509Certificates.X509Certificate2? Certificate => null;

    /// <summary>The pinned fingerprint of <see cref="Certificate"/>, or null for plain HTTP.</summary>
    public string? Fingerprint => Certificate is { } certificate ? Credentials.Fingerprint(certificate) : null;

    /// <summary>The id the fixture's worker registers under.</summary>
    public string WorkerId { get; } = "wk-test-" + Guid.NewGuid().ToString("N")[..8];

    protected string DataDir => _dataDir;

    /// <summary>The server's data dir: its database, blobs and secrets key.</summary>
    public string DataDirectory => _dataDir;

    /// <summary>The worker's data dir: its builds, and with runc its images, bundles and runc state.</summary>
    public string WorkerDataDir => Path.Combine(_dataDir, "worker");

    public FerryServer Server { get; private set; } = null!;

    internal Scheduler Scheduler => Server.Scheduler;

    public TestFunctions Functions { get; } = new();

    public Uri Url => Server.Url;

    /// <summary>The directory of the test app's build, next to this assembly's own output.</summary>
    public static string TestAppBuildDir =>
        AppContext.BaseDirectory.Replace("Ferry.IntegrationTests", "Ferry.TestApp", StringComparison.Ordinal);

    /// <summary>Where the server keeps its state: null for SQLite in the data dir, else a PostgreSQL connection string.</summary>
    protected virtual string? Store => null;

    public virtual async Task InitializeAsync()
    {
        Server = await FerryServer.StartAsync(Options(port: 0));
        AdminToken = await Server.CreateTokenAsync("tests");
        WorkerToken = await Server.CreateTokenAsync("test-worker", TokenKinds.Worker);
        await StartWorkerAsync();
        _admin = new FerryClient(Server.Url, AdminToken, fingerprint: Fingerprint);
        var program = new BuiltProgram(TestAppBuildDir, "Ferry.TestApp.dll", "ferry-tests", Rebuilt: false);
        (_buildId, _, _) = await ControlPlane.UploadAsync(_admin, program, CancellationToken.None);
    }

    /// <summary>The scheduler's tunables; the defaults unless a fixture needs others.</summary>
    protected virtual SchedulerOptions SchedulerOptions => new();

    private ServerOptions Options(int port) => new() { DataDir = _dataDir, Store = Store, Port = port, Clock = Clock, Certificate = Certificate, Scheduler = SchedulerOptions };

    private async Task StartWorkerAsync()
    {
        _worker = new WorkerAgent(
            new WorkerOptions { ServerUrl = Server.Url, Token = WorkerToken, WorkerId = WorkerId, ServerFingerprint = Fingerprint, DataDir = Path.Combine(_dataDir, "worker"), MaxContainers = WorkerSlots, Gpus = Gpus },
            CreateRuntime(Path.Combine(_dataDir, "worker")),
            NullLogger.Instance);
        _worker.Start();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await Server.WaitForWorkersAsync(1, timeout.Token);
    }

    /// <summary>
    /// Stops the worker and the server, and starts both again on the same data dir, store and port, as an operator
    /// restarting them would: clients made before keep working, and tokens are the stored ones.
    /// </summary>
    internal async Task RestartServerAsync()
    {
        var port = Server.Url.Port;
        await _worker!.DisposeAsync();
        await Server.DisposeAsync();
        Server = await FerryServer.StartAsync(Options(port));
        await StartWorkerAsync();
    }

    /// <summary>Creates a fresh app for the test app's build (or <paramref name="buildId"/>) and points the SDK at it.</summary>
    public async Task<string> NewAppAsync(string? buildId = null)
    {
        // The previous test's app goes away with its containers, so every test starts from an empty worker.
        if (_currentApp is not null)
        {
            await _admin!.SendAsync<object, AppSummary>(HttpMethod.Post, Routes.StopApp(_currentApp), null, null, ProtocolJsonContext.Default.AppSummary, CancellationToken.None);
            await WaitUntilAsync(() => Scheduler.PoolsOfApp(_currentApp).All(p => p.Containers.Count == 0));
        }
        var app = await _admin!.SendAsync(HttpMethod.Post, Routes.Apps, new CreateAppRequest("ferry-tests", buildId ?? _buildId),
            ProtocolJsonContext.Default.CreateAppRequest, ProtocolJsonContext.Default.CreateAppResponse, CancellationToken.None);
        FerryContext.Override = await PublishAsync(app.AppId);
        _currentApp = app.AppId;
        return app.AppId;
    }

    /// <summary>
    /// Uploads the test app's build with a <c>deploy-version.txt</c> of <paramref name="version"/> beside it: a build of
    /// its own, whose <c>deployed_version</c> function and <c>Greeter</c> class answer with that text.
    /// </summary>
    internal Task<string> UploadVersionedBuildAsync(string version) =>
        UploadBuildAsync(version, dir => File.WriteAllTextAsync(Path.Combine(dir, "deploy-version.txt"), version));

    /// <summary>Uploads a copy of the test app's build named <paramref name="name"/>, after <paramref name="edit"/> has changed its directory.</summary>
    internal async Task<string> UploadBuildAsync(string name, Func<string, Task> edit)
    {
        var dir = Path.Combine(_dataDir, "builds", name);
        Directory.CreateDirectory(dir);
        foreach (var file in Directory.EnumerateFiles(TestAppBuildDir, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(dir, Path.GetRelativePath(TestAppBuildDir, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
        await edit(dir);
        var (buildId, _, _) = await ControlPlane.UploadAsync(_admin!, new BuiltProgram(dir, "Ferry.TestApp.dll", "ferry-tests", Rebuilt: false), CancellationToken.None);
        return buildId;
    }

    private readonly List<string> _deployed = [];

    /// <summary>
    /// Stops every version of the apps deployed through <see cref="DeployAsync"/> and waits for their containers to end,
    /// so that a deployed app's min containers do not hold the worker's slots in the next test.
    /// </summary>
    internal async Task StopDeploymentsAsync()
    {
        foreach (var name in _deployed)
        {
            var versions = Scheduler.ListApps().Where(a => a.Name == name && a.State != "stopped").Select(a => a.AppId).ToList();
            foreach (var appId in versions)
            {
                await _admin!.SendAsync<object, AppSummary>(HttpMethod.Post, Routes.StopApp(appId), null, null, ProtocolJsonContext.Default.AppSummary, CancellationToken.None);
            }
            await WaitUntilAsync(() => versions.All(id => Scheduler.ListContainers(id).Count == 0));
        }
        _deployed.Clear();
    }

    /// <summary>Deploys a build of the test app as the next version of <paramref name="name"/>, as <c>ferry deploy</c> does.</summary>
    internal Task<AppVersion> DeployAsync(string name, string buildId, string? tag = null)
    {
        _deployed.Add(name);
        return DeployNowAsync(name, buildId, tag);
    }

    private Task<AppVersion> DeployNowAsync(string name, string buildId, string? tag) =>
        _admin!.SendAsync(HttpMethod.Post, Routes.Deployments, new DeployRequest(name, buildId, Functions.App.ToDefinition() with { Name = name }, tag, "tests"),
            ProtocolJsonContext.Default.DeployRequest, ProtocolJsonContext.Default.AppVersion, CancellationToken.None);

    /// <summary>Creates another app of the test app's build beside the current one, and returns a client pointed at it.</summary>
    internal async Task<FerryClient> CreateAppAsync(string name)
    {
        var app = await _admin!.SendAsync(HttpMethod.Post, Routes.Apps, new CreateAppRequest(name, _buildId),
            ProtocolJsonContext.Default.CreateAppRequest, ProtocolJsonContext.Default.CreateAppResponse, CancellationToken.None);
        return await PublishAsync(app.AppId);
    }

    private async Task<FerryClient> PublishAsync(string appId)
    {
        var client = new FerryClient(Server.Url, AdminToken, TimeSpan.FromSeconds(20), Fingerprint) { AppId = appId };
        await client.PublishDefinitionAsync(Functions.App.ToDefinition(), CancellationToken.None);
        return client;
    }

    /// <summary>A raw HTTP client of the API holding the administrator's credentials, for tests of the wire itself.</summary>
    public HttpClient NewHttpClient() => new(Credentials.Handler(Fingerprint)) { BaseAddress = Url, DefaultRequestHeaders = { Authorization = Credentials.Header(AdminToken) } };

    /// <summary>A client token of this server, as <c>ferry server</c> writes to $FERRY_HOME/token.</summary>
    public string AdminToken { get; private set; } = "";

    /// <summary>The join token the fixture's worker registered with.</summary>
    public string WorkerToken { get; private set; } = "";

    /// <summary>The image registry, as <c>ferry image list</c> reads it.</summary>
    public async Task<IReadOnlyList<ImageSummary>> ImagesAsync() =>
        (await _admin!.SendAsync<object, ImageList>(HttpMethod.Get, Routes.Images, null, null, ProtocolJsonContext.Default.ImageList, CancellationToken.None)).Images;

    /// <summary>An app's log, as <c>ferry app logs</c> prints it.</summary>
    public async Task<IReadOnlyList<LogEntry>> LogsAsync(string appId) =>
        (await _admin!.SendAsync<object, LogBatch>(HttpMethod.Get, Routes.AppLogs(appId, 0), null, null, ProtocolJsonContext.Default.LogBatch, CancellationToken.None)).Entries;

    /// <summary>Long-polls an app's log, as <c>ferry app logs -f</c> does, until a line matches; at most 60 s.</summary>
    public async Task<LogEntry> WaitForLogAsync(string appId, Func<LogEntry, bool> match)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        long after = 0;
        while (true)
        {
            var batch = await _admin!.SendAsync<object, LogBatch>(HttpMethod.Get, Routes.AppLogs(appId, after, TimeSpan.FromSeconds(10)), null, null, ProtocolJsonContext.Default.LogBatch, timeout.Token);
            if (batch.Entries.FirstOrDefault(match) is { } found)
            {
                return found;
            }
            after = batch.Next;
        }
    }

    /// <summary>The ids of an app's calls, read from the server's database as an operator would.</summary>
    public virtual async Task<IReadOnlyList<string>> CallIdsAsync(string appId)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(_dataDir, "ferry.db")};Mode=ReadOnly;Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT call_id FROM calls WHERE app_id = $app ORDER BY created_at";
        command.Parameters.AddWithValue("$app", appId);
        await using var reader = await command.ExecuteReaderAsync();
        var ids = new List<string>();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetString(0));
        }
        return ids;
    }

    /// <summary>One container's log, as <c>ferry container logs</c> prints it.</summary>
    public async Task<IReadOnlyList<LogEntry>> ContainerLogsAsync(string containerId) =>
        (await _admin!.SendAsync<object, LogBatch>(HttpMethod.Get, Routes.ContainerLogs(containerId, 0), null, null, ProtocolJsonContext.Default.LogBatch, CancellationToken.None)).Entries;

    /// <summary>Waits for a condition on the scheduler's state, re-checked on every change, for at most 60 s.</summary>
    internal async Task WaitUntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await Scheduler.WaitUntilAsync(condition, timeout.Token);
    }

    internal PoolState Pool(string appId, string function) =>
        Scheduler.PoolsOfApp(appId).Single(p => p.PoolId == function);

    public virtual async Task DisposeAsync()
    {
        FerryContext.Override = null;
        if (_worker is not null)
        {
            await _worker.DisposeAsync();
        }
        await Server.DisposeAsync();
        _admin?.Dispose();
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A server whose scheduler reads a manual clock.</summary>
public sealed class ManualClockFixture : ServerFixture
{
    public ManualClock ManualClock { get; } = new();

    protected override TimeProvider Clock => ManualClock;
}

/// <summary>A worker with room for eight containers of one function beside the test app's always-warm one.</summary>
public sealed class WideWorkerFixture : ServerFixture
{
    protected override int WorkerSlots => 10;
}

/// <summary>A server on HTTPS with a self-signed certificate that every client and container pins.</summary>
public sealed class TlsFixture : ServerFixture
{
    private System.Security.Cryptography.X509Certificates.X509Certificate2? _certificate;

    protected override System.Security.Cryptography.X509Certificates.X509Certificate2? Certificate =>
        _certificate ??= Ferry.Server.Security.TlsCertificates.Load(null, null, Path.Combine(DataDir, "tls"));
}

/// <summary>A process-runtime worker that keeps placeholder containers (at most two) and specialises them on cold starts.</summary>
public sealed class PlaceholderFixture : ServerFixture
{
    private ProcessRuntime? _runtime;

    protected override IContainerRuntime CreateRuntime(string workerDir) =>
        _runtime = new ProcessRuntime(workerDir, new Ferry.Worker.Runtimes.Placeholders.PlaceholderOptions { MaxCount = 2 });

    /// <summary>The worker's placeholder pool.</summary>
    internal Ferry.Worker.Runtimes.Placeholders.PlaceholderPool<Ferry.Worker.Runtimes.Placeholders.ProcessPlaceholder> Placeholders =>
        _runtime?.Placeholders ?? throw new InvalidOperationException("The worker has no placeholder pool.");

    /// <summary>Waits until a placeholder is ready, so the next cold start can take one.</summary>
    internal async Task WaitForPlaceholderAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await Placeholders.WaitForReadyAsync(1, timeout.Token);
    }
}

/// <summary>A worker with a configured inventory of two fake A10G GPUs.</summary>
public sealed class GpuFixture : ServerFixture
{
    protected override IReadOnlyList<Ferry.Protocol.GpuDevice> Gpus => GpuInventory.Parse("A10G:2");
}

/// <summary>
/// A worker on the runc runtime. The base image lives in one directory for the whole test run (FERRY_TEST_IMAGES, or
/// /var/lib/ferry-test/images), so it is built once, not once per test.
/// </summary>
public sealed class RuncFixture : ServerFixture
{
    public static string ImagesDir => Environment.GetEnvironmentVariable("FERRY_TEST_IMAGES") is { Length: > 0 } dir ? dir : "/var/lib/ferry-test/images";

    protected override IContainerRuntime CreateRuntime(string workerDir) =>
        new Ferry.Worker.Runtimes.Runc.RuncRuntime(workerDir, new Ferry.Worker.Images.BaseImage(ImagesDir, null), _ => { });

    /// <summary>
    /// Points the base image of a worker data dir, for a worker this test run starts as a process, at the shared one
    /// (building that first if it is missing), so no test waits for its own debootstrap.
    /// </summary>
    public static async Task SeedBaseImageAsync(string workerDir)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        var shared = await new Ferry.Worker.Images.BaseImage(ImagesDir, null).EnsureAsync(_ => { }, timeout.Token);
        var own = new Ferry.Worker.Images.BaseImage(Path.Combine(workerDir, "images"), null).Path;
        Directory.CreateDirectory(Path.GetDirectoryName(own)!);
        Directory.CreateSymbolicLink(own, shared);
    }

    /// <summary>Removes the containers, mounts and namespaces a worker process left in its data dir; returns how many containers.</summary>
    public static async Task<int> RemoveOrphansAsync(string workerDir)
    {
        if (!Directory.Exists(workerDir))
        {
            return 0;
        }
        await using var runtime = new Ferry.Worker.Runtimes.Runc.RuncRuntime(workerDir, new Ferry.Worker.Images.BaseImage(Path.Combine(workerDir, "images"), null), _ => { });
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        return await runtime.RemoveOrphansAsync(timeout.Token);
    }
}

/// <summary>A runc worker that keeps placeholder containers, on the shared base image of <see cref="RuncFixture"/>.</summary>
public sealed class RuncPlaceholderFixture : ServerFixture
{
    private Ferry.Worker.Runtimes.Runc.RuncRuntime? _runtime;

    protected override IContainerRuntime CreateRuntime(string workerDir) =>
        _runtime = new Ferry.Worker.Runtimes.Runc.RuncRuntime(workerDir, new Ferry.Worker.Images.BaseImage(RuncFixture.ImagesDir, null), _ => { },
            placeholders: Options, time: PlaceholderClock);

    /// <summary>The pool's options: at most three, sized by the cold starts of the last minute of <see cref="PlaceholderClock"/>.</summary>
    internal Ferry.Worker.Runtimes.Placeholders.PlaceholderOptions Options { get; } = new() { MaxCount = 3 };

    /// <summary>The clock the placeholder pool sizes itself by; it moves only when a test advances it.</summary>
    internal Microsoft.Extensions.Time.Testing.FakeTimeProvider PlaceholderClock { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    /// <summary>The worker's placeholder pool.</summary>
    internal Ferry.Worker.Runtimes.Placeholders.PlaceholderPool<Ferry.Worker.Runtimes.Runc.RuncPlaceholder> Placeholders =>
        _runtime?.Placeholders ?? throw new InvalidOperationException("The worker has no placeholder pool.");

    /// <summary>Waits until the pool has started every placeholder the cold starts so far ask for.</summary>
    internal async Task WaitForPlaceholdersAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await Placeholders.WaitForSettledAsync(timeout.Token);
    }
}

/// <summary>A runc worker with a configured inventory of two fake A10G GPUs, which have no device nodes.</summary>
public sealed class RuncGpuFixture : ServerFixture
{
    protected override IReadOnlyList<Ferry.Protocol.GpuDevice> Gpus => GpuInventory.Parse("A10G:2");

    protected override IContainerRuntime CreateRuntime(string workerDir) =>
        new Ferry.Worker.Runtimes.Runc.RuncRuntime(workerDir, new Ferry.Worker.Images.BaseImage(RuncFixture.ImagesDir, null), _ => { });
}

/// <summary>
/// A server whose state is in a PostgreSQL database of its own, dropped at the end. Where no PostgreSQL answers it
/// starts nothing, and the tests, marked <see cref="PostgresFactAttribute"/>, are skipped.
/// </summary>
public class PostgresServerFixture : ServerFixture
{
    private Ferry.Tests.Storage.PostgresTestDatabase? _database;

    protected override string? Store => _database?.ConnectionString;

    public override async Task InitializeAsync()
    {
        if (Ferry.Tests.Storage.PostgresTestDatabase.SkipReason is null)
        {
            _database = await Ferry.Tests.Storage.PostgresTestDatabase.CreateAsync();
            await base.InitializeAsync();
        }
    }

    /// <summary>The ids of an app's calls, read from the server's database as an operator would.</summary>
    public override async Task<IReadOnlyList<string>> CallIdsAsync(string appId)
    {
        await using var connection = new Npgsql.NpgsqlConnection(_database!.ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT call_id FROM calls WHERE app_id = @app ORDER BY created_at, call_id", connection);
        command.Parameters.AddWithValue("app", appId);
        await using var reader = await command.ExecuteReaderAsync();
        var ids = new List<string>();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetString(0));
        }
        return ids;
    }

    public override async Task DisposeAsync()
    {
        if (_database is not null)
        {
            await base.DisposeAsync();
            await _database.DisposeAsync();
        }
    }
}

/// <summary>A test that needs a PostgreSQL server; skipped, with the reason, where none answers.</summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (Ferry.Tests.Storage.PostgresTestDatabase.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>A test that needs runc; skipped, with the reason, where runc cannot run.</summary>
public sealed class RuncFactAttribute : FactAttribute
{
    public RuncFactAttribute()
    {
        if (!Ferry.Worker.Runtimes.Runc.RuncRuntime.IsAvailable(out var reason))
        {
            Skip = $"The runc runtime cannot run here: {reason}.";
        }
    }
}

/// <summary>A worker with room for the web load test's 25 containers beside the test app's always-warm one and a few more.</summary>
public sealed class CrowdWorkerFixture : ServerFixture
{
    protected override int WorkerSlots => 32;
}
