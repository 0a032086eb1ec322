using System.Diagnostics;
using System.Globalization;
using Ferry.Cli;
using Ferry.Client;
using Ferry.Hosting;
using Ferry.Protocol;
using Ferry.TestApp;

namespace Ferry.Bench;

/// <summary>
/// A <c>ferry server</c> process of this checkout's CLI with process containers and a fresh data dir, with the test
/// app running on it and the SDK's calls going to it, for the benchmarks that watch a server from outside (its memory,
/// its store's size, its health route). Disposing stops the server and deletes its data.
/// </summary>
internal sealed class BenchServer : IAsyncDisposable
{
    private BenchServer(Process process, string dataDir, Uri url, FerryClient client, TestFunctions functions)
    {
        Process = process;
        DataDir = dataDir;
        Url = url;
        Client = client;
        Functions = functions;
    }

    public Process Process { get; }

    public string DataDir { get; }

    public Uri Url { get; }

    /// <summary>A client of the app, which the SDK's calls use until disposed.</summary>
    public FerryClient Client { get; }

    public TestFunctions Functions { get; }

    /// <summary>The server's resident memory now.</summary>
    public long Rss => StatusBytes("VmRSS:");

    /// <summary>The server's peak resident memory so far.</summary>
    public long PeakRss => StatusBytes("VmHWM:");

    /// <summary>The size of the store's files (database and write-ahead log).</summary>
    public long StoreBytes => Directory.EnumerateFiles(DataDir, "ferry.db*").Sum(f => new FileInfo(f).Length);

    /// <summary>Starts the server, waits until it listens, and runs the test app on it as <paramref name="appName"/>.</summary>
    public static async Task<BenchServer> StartAsync(string appName)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), $"ferry-{appName}-" + Guid.NewGuid().ToString("N")[..8]);
        var tokenFile = Path.Combine(dataDir, "token");
        var port = ListenPort.Pick();
        var cli = Path.Combine(Harness.RepositoryRoot, "src", "Ferry.Cli", "bin", new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name, "net10.0", "Ferry.Cli.dll");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { cli, "server", "--port", port.ToString(CultureInfo.InvariantCulture), "--data-dir", dataDir, "--token-file", tokenFile, "--runtime", "process" })
        {
            info.ArgumentList.Add(arg);
        }
        // As the CLI starts its local server.
        ControlPlane.AddServerRuntimeSettings(info.Environment);
        var process = Process.Start(info)!;
        while (await process.StandardError.ReadLineAsync() is { } line && !line.Contains("listening on", StringComparison.Ordinal))
        {
        }
        _ = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        var url = new Uri($"http://127.0.0.1:{port}/");
        var token = (await File.ReadAllTextAsync(tokenFile)).Trim();
        using var admin = new FerryClient(url, token);
        var (buildId, _, _) = await ControlPlane.UploadAsync(admin, new BuiltProgram(Harness.AppDir, "Ferry.TestApp.dll", "bench", false), CancellationToken.None);
        var app = await admin.SendAsync(HttpMethod.Post, Routes.Apps, new CreateAppRequest(appName, buildId), ProtocolJsonContext.Default.CreateAppRequest, ProtocolJsonContext.Default.CreateAppResponse, CancellationToken.None);
        var client = new FerryClient(url, token) { AppId = app.AppId };
        var functions = new TestFunctions();
        await client.PublishDefinitionAsync(functions.App.ToDefinition(), CancellationToken.None);
        FerryContext.Override = client;
        return new BenchServer(process, dataDir, url, client, functions);
    }

    public async ValueTask DisposeAsync()
    {
        FerryContext.Override = null;
        Client.Dispose();
        Process.Kill(entireProcessTree: true);
        await Process.WaitForExitAsync();
        Process.Dispose();
        Directory.Delete(DataDir, recursive: true);
    }

    private long StatusBytes(string field) =>
        long.Parse(File.ReadLines($"/proc/{Process.Id}/status").First(l => l.StartsWith(field, StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
}
