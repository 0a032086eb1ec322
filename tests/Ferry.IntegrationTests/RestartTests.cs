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
