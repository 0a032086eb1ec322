using FluentAssertions;
using Ferry.Protocol;
using Ferry.TestApp;

namespace Ferry.IntegrationTests;

/// <summary>Handles on spawned maps, apps run from an ordinary program, and handles reached by name.</summary>
public sealed class HandleTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);
    private readonly TestFunctions _f = fixture.Functions;

    private FerryConnection NewConnection() => new(fixture.Url, fixture.AdminToken, fixture.Fingerprint);

    private static async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> items)
    {
        var list = new List<T>();
        await foreach (var item in items)
        {
            list.Add(item);
        }
        return list;
    }

    [Fact]
    public async Task A_spawn_map_of_100000_inputs_is_followed_through_its_handle_and_through_one_made_from_its_id()
    {
        await fixture.NewAppAsync();
        using var timeout = new CancellationTokenSource(Limit);
        var inputs = Enumerable.Range(0, 100_000).ToList();
        var squares = inputs.Select(i => i * i).ToList();

        var map = await _f.Square.SpawnMapAsync(inputs, timeout.Token);
        var stats = await map.GetStatsAsync(timeout.Token);
        var results = await ToListAsync(map.IterateAsync(timeout.Token));

        stats.AllSubmitted.Should().BeTrue("SpawnMapAsync returns once every input is durable");
        stats.Total.Should().Be(100_000);
        results.Should().Equal(squares, "every result once, in input order");
        (await map.GetStatsAsync(timeout.Token)).Should().Be(new FunctionCallStats(Succeeded: 100_000, Failed: 0, Pending: 0, AllSubmitted: true));

        // Another program would hold only the id and a connection of its own.
        using var connection = NewConnection();
        var again = FunctionCallMap<int>.FromId(map.Id, connection);
        var outcomes = await ToListAsync(again.IterateOutcomesAsync(timeout.Token));

        outcomes.Select(o => o.Index).Should().Equal(inputs);
        outcomes.Select(o => o.GetValueOrThrow()).Should().Equal(squares);
        (await again.GetStatsAsync(timeout.Token)).IsComplete.Should().BeTrue();

        // And a second program, in a process of its own, with the id on its command line and the server in its environment.
        var (code, output) = await RunSecondProgramAsync(timeout.Token, "follow-map", map.Id);
        code.Should().Be(0, output);
        output.Trim().Should().Be($"100000 {squares.Sum(s => (long)s)}");
    }

    private async Task<(int Code, string Output)> RunSecondProgramAsync(CancellationToken cancellationToken, params string[] args)
    {
        var info = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(ServerFixture.TestAppBuildDir, "Ferry.TestApp.dll"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment[FerryEnv.ServerUrl] = fixture.Url.ToString();
        info.Environment[FerryEnv.Token] = fixture.AdminToken;
        if (fixture.Fingerprint is { } fingerprint)
        {
            info.Environment[FerryEnv.ServerFingerprint] = fingerprint;
        }
        info.Environment.Remove(FerryEnv.Mode);
        using var process = System.Diagnostics.Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        return (process.ExitCode, await stdout + await stderr);
    }

    [Fact]
    public async Task A_spawn_map_handle_gives_failures_as_outcomes_and_counts_them()
    {
        await fixture.NewAppAsync();
        using var timeout = new CancellationTokenSource(Limit);

        var map = await _f.Fail.SpawnMapAsync(["a", "b", "c"], timeout.Token);
        var outcomes = await ToListAsync(map.IterateOutcomesAsync(timeout.Token));
        var iterating = () => ToListAsync(map.IterateAsync(timeout.Token));

        outcomes.Select(o => o.Index).Should().Equal(0, 1, 2);
        outcomes.Should().AllSatisfy(o => o.Exception.Should().BeOfType<RemoteException>().Which.RemoteType.Should().Be("System.InvalidOperationException"));
        outcomes.Select(o => o.Exception!.Message).Should().SatisfyRespectively(
            m => m.Should().Contain("a"), m => m.Should().Contain("b"), m => m.Should().Contain("c"));
        await iterating.Should().ThrowAsync<RemoteException>();
        (await map.GetStatsAsync(timeout.Token)).Should().Be(new FunctionCallStats(Succeeded: 0, Failed: 3, Pending: 0, AllSubmitted: true));
    }

    [Fact]
    public async Task Cancelling_a_spawn_map_through_its_handle_ends_every_input_cancelled()
    {
        await fixture.NewAppAsync();
        using var timeout = new CancellationTokenSource(Limit);
        var map = await _f.Sleep.SpawnMapAsync(Enumerable.Repeat(60_000, 4), timeout.Token);
        (await map.GetStatsAsync(timeout.Token)).Pending.Should().Be(4);

        await map.CancelAsync(timeout.Token);
        var outcomes = await ToListAsync(map.IterateOutcomesAsync(timeout.Token));

        outcomes.Should().HaveCount(4).And.AllSatisfy(o => o.Exception.Should().BeOfType<InputCancelledException>());
        (await map.GetStatsAsync(timeout.Token)).Should().Be(new FunctionCallStats(Succeeded: 0, Failed: 4, Pending: 0, AllSubmitted: true));
    }

    [Fact]
    public async Task A_handle_on_an_unknown_or_malformed_id_says_so()
    {
        await fixture.NewAppAsync();
        using var timeout = new CancellationTokenSource(Limit);
        using var connection = NewConnection();
        var unknown = FunctionCallMap<int>.FromId("fc-000000000000000000000000", connection);

        var stats = () => unknown.GetStatsAsync(timeout.Token);
        var iterating = () => ToListAsync(unknown.IterateAsync(timeout.Token));
        var malformed = () => FunctionCallMap<int>.FromId(" ", connection);

        (await stats.Should().ThrowAsync<NotFoundException>()).WithMessage("*fc-000000000000000000000000*");
        await iterating.Should().ThrowAsync<NotFoundException>();
        malformed.Should().Throw<ArgumentException>().WithMessage("*not a call id*");
    }

    [Fact]
    public async Task An_app_run_from_a_test_is_called_and_stopped_when_the_run_is_disposed()
    {
        using var timeout = new CancellationTokenSource(Limit);
        using var connection = NewConnection();
        var functions = new TestFunctions(connection);
        var notRunning = () => functions.Square.RemoteAsync(2, timeout.Token);
        await notRunning.Should().ThrowAsync<FerryException>().WithMessage("App 'ferry-tests' is not running*");
        string appId;

        var options = new AppRunOptions { Program = Path.Combine(ServerFixture.TestAppBuildDir, "Ferry.TestApp.dll") };
        await using (var run = await functions.App.RunEphemeralAsync(options, timeout.Token))
        {
            appId = run.AppId;
            var twice = () => functions.App.RunEphemeralAsync(options, timeout.Token);
            await twice.Should().ThrowAsync<InvalidOperationException>().WithMessage("App 'ferry-tests' is already running*");
            (await functions.Square.RemoteAsync(7, timeout.Token)).Should().Be(49);
            (await App.Current!.Lookup<Function<int, int>>("square").RemoteAsync(8, timeout.Token)).Should().Be(64);
            (await functions.Counter.With(new Dictionary<string, string> { ["Label"] = "run" }).Method<int, string>(c => c.Next).RemoteAsync(2, timeout.Token))
                .Should().StartWith("run:2:");
            fixture.Scheduler.PoolsOfApp(appId).Select(p => p.PoolId).Should().Contain("square", "the calls went to the run's own app");
            (await AppAsync(appId)).State.Should().Be("running");
        }

        (await AppAsync(appId)).State.Should().Be("stopped");
        await fixture.WaitUntilAsync(() => fixture.Scheduler.PoolsOfApp(appId).All(p => p.Containers.Count == 0));
        await notRunning.Should().ThrowAsync<FerryException>().WithMessage("App 'ferry-tests' is not running*");
    }

    [Fact]
    public async Task An_app_run_names_a_missing_program_before_creating_anything()
    {
        using var connection = NewConnection();
        var functions = new TestFunctions(connection);

        var run = () => functions.App.RunEphemeralAsync(new AppRunOptions { Program = "/nonexistent/App.dll" });

        (await run.Should().ThrowAsync<InvalidRequestException>()).WithMessage("*'/nonexistent/App.dll' does not exist*");
    }

    private async Task<AppSummary> AppAsync(string appId)
    {
        using var http = fixture.NewHttpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var response = await http.GetAsync("/" + Routes.App(appId), timeout.Token);
        response.EnsureSuccessStatusCode();
        return (await System.Text.Json.JsonSerializer.DeserializeAsync(await response.Content.ReadAsStreamAsync(timeout.Token), ProtocolJsonContext.Default.AppSummary, timeout.Token))!;
    }
}
