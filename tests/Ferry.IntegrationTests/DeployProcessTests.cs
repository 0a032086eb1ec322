using System.Diagnostics;
using FluentAssertions;
using Ferry.Cli;
using Ferry.Client;
using Ferry.Protocol;

namespace Ferry.IntegrationTests;

/// <summary>
/// Deployed and ephemeral apps against a real <c>ferry server</c> process: a deployed app survives the server being
/// killed with SIGKILL, and an ephemeral app ends when its <c>ferry run</c> client is killed with SIGKILL.
/// </summary>
public sealed class DeployProcessTests : IAsyncLifetime
{
    /// <summary>The documented bound: 20 s without a heartbeat, a pass every 0.5 s, and a few seconds for containers to end.</summary>
    private static readonly TimeSpan OrphanBound = TimeSpan.FromSeconds(30);
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "ferry-deploy-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly int _port = ServerProcess.FreePort();
    private Process? _server;

    private static string CliPath => ServerProcess.CliPath;

    private Uri Url => new($"http://127.0.0.1:{_port}/");

    private string TokenFile => Path.Combine(_dataDir, "token");

    private async Task StartServerAsync() => _server = await ServerProcess.StartAsync(_port, _dataDir, TokenFile);

    public Task InitializeAsync() => StartServerAsync();

    private static async Task<T> SendAsync<T>(FerryClient client, string path, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, CancellationToken cancellationToken) =>
        await client.SendAsync<object, T>(HttpMethod.Get, path, null, null, type, cancellationToken);

    /// <summary>Reads the container list until <paramref name="condition"/> holds; the API has no long poll for it.</summary>
    private static async Task<IReadOnlyList<ContainerSummary>> WaitForContainersAsync(FerryClient client, string appId, Func<IReadOnlyList<ContainerSummary>, bool> condition, CancellationToken cancellationToken)
    {
        while (true)
        {
            var list = (await SendAsync(client, Routes.Containers(appId), ProtocolJsonContext.Default.ContainerList, cancellationToken)).Containers;
            if (condition(list))
            {
                return list;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
        }
    }

    [Fact]
    public async Task A_deployed_app_survives_a_kill_9_of_the_server_with_its_min_container_back_and_lookups_working()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var token = (await File.ReadAllTextAsync(TokenFile)).Trim();
        using var admin = new FerryClient(Url, token, TimeSpan.FromSeconds(60));
        var (buildId, _, _) = await ControlPlane.UploadAsync(admin, new BuiltProgram(ServerFixture.TestAppBuildDir, "Ferry.TestApp.dll", "ferry-tests", false), timeout.Token);
        var definition = new Ferry.TestApp.TestFunctions().App.ToDefinition() with { Name = "survivor" };
        var deployed = await admin.SendAsync(HttpMethod.Post, Routes.Deployments, new DeployRequest("survivor", buildId, definition),
            ProtocolJsonContext.Default.DeployRequest, ProtocolJsonContext.Default.AppVersion, timeout.Token);
        var warmBefore = await WaitForContainersAsync(admin, deployed.AppId, l => l.Any(c => c.Function == "warm" && c.State == "ready"), timeout.Token);

        _server!.Kill(entireProcessTree: true);
        await _server.WaitForExitAsync(timeout.Token);
        await StartServerAsync();
        var app = await SendAsync(admin, Routes.App("survivor"), ProtocolJsonContext.Default.AppSummary, timeout.Token);
        var warmAfter = await WaitForContainersAsync(admin, deployed.AppId, l => l.Any(c => c.Function == "warm" && c.State == "ready"), timeout.Token);
        using var connection = new FerryConnection(Url, token);
        var square = await Function.FromNameAsync<Function<int, int>>("survivor", "square", connection, timeout.Token);
        var result = await square.RemoteAsync(12, timeout.Token);

        app.Should().BeEquivalentTo(new { AppId = deployed.AppId, State = "deployed", Version = (int?)1 });
        warmAfter.Where(c => c.Function == "warm").Should().ContainSingle().Which.ContainerId.Should().NotBe(warmBefore.Single(c => c.Function == "warm").ContainerId,
            "the min container came back as a new container, with no client asking for it");
        result.Should().Be(144);
    }

    [Fact]
    public async Task Killing_a_ferry_run_client_with_sigkill_stops_its_ephemeral_app_and_containers_within_the_bound()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var token = (await File.ReadAllTextAsync(TokenFile)).Trim();
        // `ferry run` names the app after the file.
        var name = "orphan" + Guid.NewGuid().ToString("N")[..6];
        var dir = Path.Combine(_dataDir, "program");
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, name + ".cs");
        // The entrypoint reports that a container answered, then waits; it ends on its own after 3 minutes at the latest.
        await File.WriteAllTextAsync(file, $$"""
            var app = new App("{{name}}");
            var hold = app.Function(Hold, new FunctionOptions { MinContainers = 1 });
            app.LocalEntrypoint(async () =>
            {
                Console.WriteLine("answered: " + await hold.RemoteAsync());
                await Task.Delay(TimeSpan.FromMinutes(3));
            });
            return await app.RunAsync(args);

            static string Hold() => "held";
            """, timeout.Token);
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { CliPath, "run", file, "--server", Url.ToString() })
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["FERRY_TOKEN"] = token;
        info.Environment["FERRY_HOME"] = Path.Combine(_dataDir, "client-home");
        info.Environment.Remove(FerryEnv.Mode);
        using var client = Process.Start(info)!;
        _ = client.StandardError.ReadToEndAsync(timeout.Token);
        string? line;
        while ((line = await client.StandardOutput.ReadLineAsync(timeout.Token)) is not null && !line.StartsWith("answered:", StringComparison.Ordinal))
        {
        }
        line.Should().Be("answered: held");
        using var admin = new FerryClient(Url, token);
        var app = await SendAsync(admin, Routes.App(name), ProtocolJsonContext.Default.AppSummary, timeout.Token);
        app.State.Should().Be("running");

        var killed = Stopwatch.StartNew();
        client.Kill(entireProcessTree: false);
        await client.WaitForExitAsync(timeout.Token);
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token);
        bound.CancelAfter(OrphanBound);
        await WaitForContainersAsync(admin, app.AppId, l => l.Count == 0, bound.Token);
        var after = await SendAsync(admin, Routes.App(app.AppId), ProtocolJsonContext.Default.AppSummary, timeout.Token);

        after.State.Should().Be("stopped");
        killed.Elapsed.Should().BeLessThan(OrphanBound);
    }

    [Fact]
    public async Task Ferry_serve_swaps_in_an_edit_and_a_broken_edit_leaves_the_previous_version_answering()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var token = (await File.ReadAllTextAsync(TokenFile)).Trim();
        var name = "served" + Guid.NewGuid().ToString("N")[..6];
        var dir = Path.Combine(_dataDir, "served");
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, name + ".cs");
        string Source(string answer) => $$"""
            var app = new App("{{name}}");
            app.Function(Answer);
            return await app.RunAsync(args);

            static string Answer() => "{{answer}}";
            """;
        await File.WriteAllTextAsync(file, Source("one"), timeout.Token);
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { CliPath, "serve", file, "--server", Url.ToString() })
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["FERRY_TOKEN"] = token;
        info.Environment["FERRY_HOME"] = Path.Combine(_dataDir, "serve-home");
        info.Environment.Remove(FerryEnv.Mode);
        using var serve = Process.Start(info)!;
        _ = serve.StandardOutput.ReadToEndAsync(timeout.Token);
        var printed = new System.Text.StringBuilder();
        async Task<string> LineStartingAsync(string prefix)
        {
            while (await serve.StandardError.ReadLineAsync(timeout.Token) is { } line)
            {
                printed.AppendLine(line);
                if (line.StartsWith(prefix, StringComparison.Ordinal))
                {
                    return line;
                }
            }
            throw new InvalidOperationException($"ferry serve ended before printing '{prefix}':{Environment.NewLine}{printed}");
        }
        try
        {
            await LineStartingAsync("Serving");
            using var connection = new FerryConnection(Url, token);
            var answer = await Function.FromNameAsync<Function<string>>(name + "-serve", "Answer", connection, timeout.Token);
            var first = await answer.RemoteAsync(timeout.Token);

            var edited = Stopwatch.StartNew();
            await File.WriteAllTextAsync(file, Source("two"), timeout.Token);
            var swapped = await LineStartingAsync("✓ Swapped");
            var second = await answer.RemoteAsync(timeout.Token);
            var editToLive = edited.Elapsed;
            await File.WriteAllTextAsync(file, Source("three\" ;"), timeout.Token);
            await LineStartingAsync("Kept v2 running.");
            var third = await answer.RemoteAsync(timeout.Token);

            first.Should().Be("one");
            swapped.Should().StartWith($"✓ Swapped {name}-serve to v2 (");
            second.Should().Be("two", "the edit is live once the swap is reported");
            third.Should().Be("two", "a broken edit keeps the previous version answering");
            printed.ToString().Should().Contain("error CS", "the compile error is shown");
            editToLive.Should().BeLessThan(TimeSpan.FromMinutes(2));
            Console.Error.WriteLine($"ferry serve: edit to live in {editToLive.TotalSeconds:0.0} s");
        }
        finally
        {
            serve.Kill(entireProcessTree: true);
            await serve.WaitForExitAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Deploying_a_program_that_fails_to_describe_itself_keeps_the_current_version_and_says_why()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var token = (await File.ReadAllTextAsync(TokenFile)).Trim();
        var name = "describe" + Guid.NewGuid().ToString("N")[..6];
        var dir = Path.Combine(_dataDir, "describe");
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, name + ".cs");
        async Task<(int Code, string Stderr)> DeployAsync(string source)
        {
            await File.WriteAllTextAsync(file, source, timeout.Token);
            var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in new[] { CliPath, "deploy", file, "--server", Url.ToString() })
            {
                info.ArgumentList.Add(arg);
            }
            info.Environment["FERRY_TOKEN"] = token;
            info.Environment["FERRY_HOME"] = Path.Combine(_dataDir, "describe-home");
            info.Environment.Remove(FerryEnv.Mode);
            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            await stdout;
            return (process.ExitCode, await stderr);
        }

        var good = await DeployAsync($$"""
            var app = new App("{{name}}");
            app.Function(Answer);
            return await app.RunAsync(args);

            static string Answer() => "good";
            """);
        good.Code.Should().Be(0, good.Stderr);
        var bad = await DeployAsync($$"""
            var app = new App("{{name}}");
            app.Function(Answer);
            throw new InvalidOperationException("the settings file is missing");

            static string Answer() => "bad";
            """);
        using var connection = new FerryConnection(Url, token);
        var answer = await Function.FromNameAsync<Function<string>>(name, "Answer", connection, timeout.Token);
        using var admin = new FerryClient(Url, token);
        var history = await SendAsync(admin, Routes.AppHistory(name), ProtocolJsonContext.Default.AppHistory, timeout.Token);

        bad.Code.Should().Be(1);
        bad.Stderr.Should().Contain("The program failed to describe its app").And.Contain("nothing was deployed and the current version keeps running")
            .And.Contain("the settings file is missing");
        history.Versions.Should().ContainSingle().Which.State.Should().Be("deployed");
        (await answer.RemoteAsync(timeout.Token)).Should().Be("good");
        await admin.SendAsync<object, AppSummary>(HttpMethod.Post, Routes.StopApp(name), null, null, ProtocolJsonContext.Default.AppSummary, timeout.Token);
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
