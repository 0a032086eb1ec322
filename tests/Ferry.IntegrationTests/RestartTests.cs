using System.Diagnostics;
using FluentAssertions;
using Ferry.Cli;
using Ferry.Client;
using Ferry.Hosting;
using Ferry.Protocol;

namespace Ferry.IntegrationTests;

/// <summary>Kills a real <c>ferry server</c> process with SIGKILL in the middle of a map and starts it again.</summary>
public sealed class RestartTests : IAsyncLifetime
{
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "ferry-restart-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly int _port = ServerProcess.FreePort();
    private Process? _server;

    private Uri Url => new($"http://127.0.0.1:{_port}/");

    private string TokenFile => Path.Combine(_dataDir, "token");

    private async Task StartServerAsync() => _server = await ServerProcess.StartAsync(_port, _dataDir, TokenFile);

    public Task InitializeAsync() => StartServerAsync();

    [Fact]
    public async Task Killing_the_server_mid_map_loses_no_input_and_duplicates_no_result()
    {
        var functions = new Ferry.TestApp.TestFunctions();
        var token = (await File.ReadAllTextAsync(TokenFile)).Trim();
        using var admin = new FerryClient(Url, token);
        var (buildId, _, _) = await ControlPlane.UploadAsync(admin, new BuiltProgram(ServerFixture.TestAppBuildDir, "Ferry.TestApp.dll", "ferry-tests", false), CancellationToken.None);
        var app = await admin.SendAsync(HttpMethod.Post, Routes.Apps, new CreateAppRequest("restart", buildId),
            ProtocolJsonContext.Default.CreateAppRequest, ProtocolJsonContext.Default.CreateAppResponse, CancellationToken.None);
        using var client = new FerryClient(Url, token, TimeSpan.FromSeconds(120)) { AppId = app.AppId };
        await client.PublishDefinitionAsync(functions.App.ToDefinition(), CancellationToken.None);
        FerryContext.Override = client;
        try
        {
            const int count = 3_000;
            var results = new List<int>(count);
            var halfway = new TaskCompletionSource();
            var mapping = Task.Run(async () =>
            {
                await foreach (var result in functions.Square.MapAsync(Enumerable.Range(0, count)))
                {
                    results.Add(result);
                    if (results.Count == 500)
                    {
                        halfway.TrySetResult();
                    }
                }
            });
            await halfway.Task.WaitAsync(TimeSpan.FromSeconds(120));

            _server!.Kill(entireProcessTree: true);
            await _server.WaitForExitAsync();
            await StartServerAsync();
            await mapping.WaitAsync(TimeSpan.FromSeconds(180));

            results.Should().Equal(Enumerable.Range(0, count).Select(i => i * i));
        }
        finally
        {
            FerryContext.Override = null;
        }
    }

    /// <summary>
    /// The size of the spawn map killed in the middle. A map of 1,000,000 takes several minutes on two busy cores (see
    /// bench/RESULTS.md, where the benchmark runs the full size), so this test uses a size that keeps it near a minute.
    /// </summary>
    private const int SpawnSize = 200_000;

    [Fact]
    public async Task Killing_the_server_during_a_spawn_map_of_200000_loses_no_acknowledged_input_and_duplicates_no_result()
    {
        var functions = new Ferry.TestApp.TestFunctions();
        var token = (await File.ReadAllTextAsync(TokenFile)).Trim();
        using var admin = new FerryClient(Url, token);
        var (buildId, _, _) = await ControlPlane.UploadAsync(admin, new BuiltProgram(ServerFixture.TestAppBuildDir, "Ferry.TestApp.dll", "ferry-tests", false), CancellationToken.None);
        var app = await admin.SendAsync(HttpMethod.Post, Routes.Apps, new CreateAppRequest("restart-spawn", buildId),
            ProtocolJsonContext.Default.CreateAppRequest, ProtocolJsonContext.Default.CreateAppResponse, CancellationToken.None);
        using var client = new FerryClient(Url, token, TimeSpan.FromSeconds(120)) { AppId = app.AppId };
        await client.PublishDefinitionAsync(functions.App.ToDefinition(), CancellationToken.None);
        FerryContext.Override = client;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            var map = await functions.Square.SpawnMapAsync(Enumerable.Range(0, SpawnSize), timeout.Token);
            // Some outputs exist before the kill: the first outcome has been delivered.
            await foreach (var first in map.IterateOutcomesAsync(timeout.Token))
            {
                first.Index.Should().Be(0);
                break;
            }
            var before = await map.GetStatsAsync(timeout.Token);
            before.AllSubmitted.Should().BeTrue("SpawnMapAsync returned, so every input was acknowledged");

            _server!.Kill(entireProcessTree: true);
            await _server.WaitForExitAsync(timeout.Token);
            await StartServerAsync();

            var outcomes = new List<Outcome<int>>(SpawnSize);
            await foreach (var outcome in FunctionCallMap<int>.FromId(map.Id).IterateOutcomesAsync(timeout.Token))
            {
                outcomes.Add(outcome);
            }

            outcomes.Should().HaveCount(SpawnSize, "every acknowledged input has exactly one outcome");
            outcomes.Select(o => o.Index).Should().Equal(Enumerable.Range(0, SpawnSize));
            outcomes.Where(o => !o.IsSuccess || o.Value != o.Index * o.Index).Select(o => o.Index).Should().BeEmpty();
            (await map.GetStatsAsync(timeout.Token)).Should().Be(new FunctionCallStats(Succeeded: SpawnSize, Failed: 0, Pending: 0, AllSubmitted: true));

            // The store, read directly once the server has stopped: one row per index, each done once, with the square as
            // the function computes it in 32-bit arithmetic.
            _server!.Kill(entireProcessTree: true);
            await _server.WaitForExitAsync(timeout.Token);
            await using var store = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(_dataDir, "ferry.db")};Pooling=False");
            await store.OpenAsync(timeout.Token);
            await using var count = store.CreateCommand();
            count.CommandText = """
                SELECT COUNT(*), COUNT(DISTINCT idx), SUM(done), COUNT(DISTINCT completion_order), MIN(idx), MAX(idx),
                    SUM(CASE WHEN success = 1 AND CAST(result AS INTEGER) = (idx * idx + 2147483648) % 4294967296 - 2147483648 THEN 1 ELSE 0 END)
                FROM inputs WHERE call_key = (SELECT call_key FROM calls WHERE call_id = $call)
                """;
            count.Parameters.AddWithValue("$call", map.Id);
            await using var reader = await count.ExecuteReaderAsync(timeout.Token);
            (await reader.ReadAsync(timeout.Token)).Should().BeTrue();
            Enumerable.Range(0, 7).Select(reader.GetInt64).Should().Equal(SpawnSize, SpawnSize, SpawnSize, SpawnSize, 0, SpawnSize - 1, SpawnSize);
        }
        finally
        {
            FerryContext.Override = null;
        }
    }

    public async Task DisposeAsync()
    {
        if (_server is { HasExited: false })
        {
            _server.Kill(entireProcessTree: true);
            await _server.WaitForExitAsync();
        }
        _server?.Dispose();
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
