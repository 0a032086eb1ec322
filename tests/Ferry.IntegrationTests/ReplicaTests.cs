using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using FluentAssertions;
using Ferry.Cli;
using Ferry.Client;
using Ferry.Hosting;
using Ferry.Protocol;
using Ferry.Tests.Storage;
using Xunit.Abstractions;

namespace Ferry.IntegrationTests;

/// <summary>
/// Two real <c>ferry server</c> replica processes on one PostgreSQL database, and one <c>ferry worker</c> process
/// serving both. The replica that owns the app is killed with SIGKILL in the middle of a map; the other takes the app
/// over when its lease lapses. Skipped where no PostgreSQL answers.
/// </summary>
public sealed class ReplicaTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(5);

    // Blobs (the app's build) live in the data dir: replicas share one, as they would share a network filesystem.
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "ferry-replicas-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly List<Process> _processes = [];
    private readonly List<(string Name, Task<string> Output)> _outputs = [];
    private PostgresTestDatabase? _database;

    private static string CliPath => Path.Combine(
        AppContext.BaseDirectory.Replace("Ferry.IntegrationTests", "Ferry.Cli", StringComparison.Ordinal)
            .Replace(Path.Combine("tests", "Ferry.Cli"), Path.Combine("src", "Ferry.Cli"), StringComparison.Ordinal),
        "Ferry.Cli.dll");

    private string TokenFile => Path.Combine(_dataDir, "token");

    public async Task InitializeAsync()
    {
        if (PostgresTestDatabase.SkipReason is null)
        {
            _database = await PostgresTestDatabase.CreateAsync();
        }
    }

    /// <summary>Starts a CLI process and returns once it prints <paramref name="ready"/> on stderr.</summary>
    private async Task<Process> StartAsync(string ready, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(CliPath);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        var process = Process.Start(info)!;
        _processes.Add(process);
        var seen = new List<string>();
        while (await process.StandardError.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60)) is { } line)
        {
            seen.Add(line);
            if (line.Contains(ready, StringComparison.Ordinal))
            {
                // Kept for the test's output: what each process logged is the first thing to read when this test fails.
                _outputs.Add(($"{args[0]} {_outputs.Count + 1} stderr", process.StandardError.ReadToEndAsync()));
                _outputs.Add(($"{args[0]} {_outputs.Count} stdout", process.StandardOutput.ReadToEndAsync()));
                return process;
            }
        }
        throw new InvalidOperationException($"`ferry {args[0]}` exited before it printed '{ready}':\n{string.Join('\n', seen)}");
    }

    private Task<Process> StartReplicaAsync(int port) => StartAsync("listening on",
        "server", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--data-dir", _dataDir, "--token-file", TokenFile,
        "--no-worker", "--store", _database!.ConnectionString, "--lease-duration", $"{Lease.TotalSeconds}s", "--gateway-port", "0", "--verbose");

    [PostgresFact]
    public async Task Killing_the_replica_that_owns_the_app_mid_map_moves_it_and_every_result_arrives_exactly_once()
    {
        var (portA, portB) = (ServerProcess.FreePort(), ServerProcess.FreePort());
        var urlA = new Uri($"http://127.0.0.1:{portA}/");
        var urlB = new Uri($"http://127.0.0.1:{portB}/");
        var replicaA = await StartReplicaAsync(portA);
        var token = (await File.ReadAllTextAsync(TokenFile)).Trim();
        using var admin = new FerryClient(urlA, token);
        // Tokens are read from the store when a replica starts: the worker's is made before the second one starts.
        var workerToken = await admin.SendAsync(HttpMethod.Post, Routes.Tokens, new CreateTokenRequest("both", TokenKinds.Worker),
            ProtocolJsonContext.Default.CreateTokenRequest, ProtocolJsonContext.Default.CreateTokenResponse, CancellationToken.None);
        await StartReplicaAsync(portB);
        await StartAsync("serving " + urlB, "worker", "--server-url", urlA.AbsoluteUri, "--server-url", urlB.AbsoluteUri,
            "--token", workerToken.Secret, "--data-dir", Path.Combine(_dataDir, "worker"), "--runtime", "process", "--max-containers", "4");

        var functions = new Ferry.TestApp.TestFunctions();
        var (buildId, _, _) = await ControlPlane.UploadAsync(admin, new BuiltProgram(ServerFixture.TestAppBuildDir, "Ferry.TestApp.dll", "ferry-tests", false), CancellationToken.None);
        var app = await admin.SendAsync(HttpMethod.Post, Routes.Apps, new CreateAppRequest("replicas", buildId),
            ProtocolJsonContext.Default.CreateAppRequest, ProtocolJsonContext.Default.CreateAppResponse, CancellationToken.None);
        (await OwnerUrlAsync(app.AppId)).Should().Be(urlA.AbsoluteUri, "the replica that creates an app leases it");
        // The client talks to the replica that does not own the app: it forwards to the owner until the owner dies.
        using var client = new FerryClient(urlB, token, TimeSpan.FromSeconds(120)) { AppId = app.AppId };
        await client.PublishDefinitionAsync(functions.App.ToDefinition(), CancellationToken.None);
        FerryContext.Override = client;
        try
        {
            const int count = 100_000;
            var results = new List<int>(count);
            var midway = new TaskCompletionSource();
            var killedAt = 0L;
            var firstAfterKill = new TaskCompletionSource<long>();
            var mapping = Task.Run(async () =>
            {
                await foreach (var result in functions.Square.MapAsync(Enumerable.Range(0, count)))
                {
                    results.Add(result);
                    if (results.Count == 30_000)
                    {
                        midway.TrySetResult();
                    }
                    if (Volatile.Read(ref killedAt) != 0)
                    {
                        firstAfterKill.TrySetResult(Stopwatch.GetTimestamp());
                    }
                }
            });
            await midway.Task.WaitAsync(TimeSpan.FromSeconds(120));
            (await OwnerUrlAsync(app.AppId)).Should().Be(urlA.AbsoluteUri, "a busy owner keeps renewing its lease");

            replicaA.Kill(entireProcessTree: true);
            await replicaA.WaitForExitAsync();
            Volatile.Write(ref killedAt, Stopwatch.GetTimestamp());
            var resumedAt = await firstAfterKill.Task.WaitAsync(TimeSpan.FromSeconds(120));
            await mapping.WaitAsync(TimeSpan.FromSeconds(600));
            output.WriteLine($"Failover: the first result after the kill came {Stopwatch.GetElapsedTime(killedAt, resumedAt).TotalSeconds:0.00} s after it (lease {Lease.TotalSeconds} s).");

            results.Should().Equal(Enumerable.Range(0, count).Select(i => i * i), "every index's result arrives once, in order, with its value");
            (await OwnerUrlAsync(app.AppId)).Should().Be(urlB.AbsoluteUri, "the surviving replica took the app over");
            await using var connection = new Npgsql.NpgsqlConnection(_database!.ConnectionString);
            await connection.OpenAsync();
            await using var check = new Npgsql.NpgsqlCommand("""
                SELECT COUNT(*), COUNT(DISTINCT idx), COUNT(*) FILTER (WHERE done AND success), MIN(completion_order), MAX(completion_order), COUNT(DISTINCT completion_order)
                FROM inputs i JOIN calls c ON c.call_id = i.call_id WHERE c.app_id = @app
                """, connection);
            check.Parameters.AddWithValue("app", app.AppId);
            await using var reader = await check.ExecuteReaderAsync();
            await reader.ReadAsync();
            Enumerable.Range(0, 6).Select(reader.GetInt64).Should().Equal([count, count, count, 1, count, count],
                "the store holds one outcome per input, with cursors 1..n");
        }
        finally
        {
            FerryContext.Override = null;
        }
    }

    /// <summary>The URL of the replica that holds the app's lease, read from the database as an operator would.</summary>
    private async Task<string?> OwnerUrlAsync(string appId)
    {
        await using var connection = new Npgsql.NpgsqlConnection(_database!.ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT r.url FROM leases l JOIN replicas r ON r.replica_id = l.replica_id WHERE l.pool_id = @app", connection);
        command.Parameters.AddWithValue("app", appId);
        return await command.ExecuteScalarAsync() as string;
    }

    public async Task DisposeAsync()
    {
        foreach (var process in _processes)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
            process.Dispose();
        }
        foreach (var (name, log) in _outputs)
        {
            var text = await log;
            output.WriteLine($"--- {name}, last lines:\n{string.Join('\n', text.Split('\n').TakeLast(40))}");
        }
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
