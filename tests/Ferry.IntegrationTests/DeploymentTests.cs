using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Storage;

namespace Ferry.IntegrationTests;

/// <summary>Deployed apps on a real server and worker: lookups by name from another process, redeploys that drain, rollbacks.</summary>
public sealed class DeploymentTests(ServerFixture fixture) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>A deployed app runs until stopped: each test stops its own, so their containers do not carry over.</summary>
    public Task DisposeAsync() => fixture.StopDeploymentsAsync();

    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(4);

    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..6]}";

    private FerryConnection NewConnection() => new(fixture.Url, fixture.AdminToken, fixture.Fingerprint);

    private static string LookupClientDll => Path.Combine(
        AppContext.BaseDirectory.Replace("Ferry.IntegrationTests", "Ferry.LookupClient", StringComparison.Ordinal), "Ferry.LookupClient.dll");

    private async Task<(int Code, string Stdout, string Stderr)> RunLookupClientAsync(CancellationToken cancellationToken, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(LookupClientDll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment[FerryEnv.ServerUrl] = fixture.Url.ToString();
        info.Environment[FerryEnv.Token] = fixture.AdminToken;
        info.Environment.Remove(FerryEnv.Mode);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        return (process.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task A_deployed_function_and_class_method_are_called_by_name_from_a_separate_process()
    {
        using var timeout = new CancellationTokenSource(Limit);
        var name = Unique("lookup");
        var version = await fixture.DeployAsync(name, await fixture.UploadVersionedBuildAsync("v1"), tag: "first");

        var (code, stdout, stderr) = await RunLookupClientAsync(timeout.Token, "lookup", name, "world");
        var (badCode, badStdout, badStderr) = await RunLookupClientAsync(timeout.Token, "signature", name);

        version.Should().BeEquivalentTo(new { AppName = name, Version = 1, State = AppStates.Deployed, Tag = "first", Source = "tests", RollbackOf = (int?)null });
        code.Should().Be(0, stderr);
        stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().Equal(
            "function: v1",
            "method: hello world from v1",
            "untyped: 49 Function<Int32, Int32>");
        badCode.Should().Be(0, badStderr);
        var lines = badStdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines[0].Should().Be($"'square' of app '{name}' is Function<Int32, Int32> in the deployed version, but the lookup asked for Function<String, String>.");
        lines[1].Should().StartWith($"App '{name}' has no function 'no_such_function'. Its functions: ");
        lines[1].Split(": ", 2)[1].TrimEnd('.').Split(", ").Should().Contain(["square", "add", "echo"]).And.NotContain("no_such_function");
    }

    [Fact]
    public async Task A_function_of_another_app_calls_a_deployed_app_by_name_with_its_container_token_but_not_an_ephemeral_one()
    {
        using var timeout = new CancellationTokenSource(Limit);
        var name = Unique("callee");
        await fixture.DeployAsync(name, await fixture.UploadVersionedBuildAsync("v1"));
        var ephemeral = Unique("ephemeral");
        using var other = await fixture.CreateAppAsync(ephemeral);
        await fixture.NewAppAsync();

        var answer = await fixture.Functions.LookupFromContainer.RemoteAsync(name, timeout.Token);
        var refused = () => fixture.Functions.LookupFromContainer.RemoteAsync(other.AppId, timeout.Token);

        answer.Should().Be("v1");
        (await refused.Should().ThrowAsync<RemoteException>()).Which.Message.Should()
            .Contain("A container's token can only call its own app's functions and those of deployed apps.");
    }

    [Fact]
    public async Task A_lookup_of_an_app_that_is_not_deployed_names_it_and_the_deployed_apps()
    {
        using var timeout = new CancellationTokenSource(Limit);
        var name = Unique("listed");
        await fixture.DeployAsync(name, await fixture.UploadVersionedBuildAsync("v1"));
        using var connection = NewConnection();

        var lookup = () => Function.FromNameAsync<Function<int, int>>("no-such-app", "square", connection, timeout.Token);

        (await lookup.Should().ThrowAsync<NotFoundException>()).Which.Message.Should()
            .StartWith("No deployed app is named 'no-such-app'. Deployed apps: ").And.Contain(name);
    }

    [Fact]
    public async Task A_redeploy_in_the_middle_of_2000_calls_loses_none_and_the_new_version_answers_the_later_calls()
    {
        using var timeout = new CancellationTokenSource(Limit);
        var name = Unique("swap");
        var v1 = await fixture.DeployAsync(name, await fixture.UploadVersionedBuildAsync("v1"));
        var v2Build = await fixture.UploadVersionedBuildAsync("v2");
        using var connection = NewConnection();
        var version = await Function.FromNameAsync<Function<string>>(name, "deployed_version", connection, timeout.Token);

        const int total = 2000;
        var next = -1;
        var results = new ConcurrentDictionary<int, (string Result, bool AfterDeploy)>();
        var clock = Stopwatch.StartNew();
        var timings = new ConcurrentBag<(TimeSpan Start, TimeSpan Latency, string Result)>();
        var failures = new ConcurrentBag<Exception>();
        var halfway = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var deployed = 0;
        async Task CallerAsync()
        {
            int index;
            while ((index = Interlocked.Increment(ref next)) < total)
            {
                var afterDeploy = Volatile.Read(ref deployed) == 1;
                try
                {
                    var start = clock.Elapsed;
                    var result = await version.RemoteAsync(timeout.Token);
                    timings.Add((start, clock.Elapsed - start, result));
                    results[index] = (result, afterDeploy);
                }
                catch (Exception e) when (e is FerryException)
                {
                    failures.Add(e);
                }
                if (results.Count == total / 4)
                {
                    halfway.TrySetResult();
                }
            }
        }
        var callers = Enumerable.Range(0, 16).Select(_ => Task.Run(CallerAsync)).ToList();
        await halfway.Task.WaitAsync(timeout.Token);
        var deployStart = clock.Elapsed;
        var v2 = await fixture.DeployAsync(name, v2Build);
        Volatile.Write(ref deployed, 1);
        await Task.WhenAll(callers).WaitAsync(timeout.Token);
        var firstV2 = timings.Where(t => t.Result == "v2").Min(t => t.Start + t.Latency);
        static double P99(IEnumerable<TimeSpan> latencies)
        {
            var sorted = latencies.Order().ToList();
            return sorted.Count == 0 ? double.NaN : sorted[(int)Math.Ceiling(sorted.Count * 0.99) - 1].TotalMilliseconds;
        }
        Console.Error.WriteLine(
            $"redeploy: new version answering {(firstV2 - deployStart).TotalSeconds:0.00} s after the deploy request; " +
            $"p99 {P99(timings.Where(t => t.Start + t.Latency < deployStart).Select(t => t.Latency)):0} ms before the swap, " +
            $"{P99(timings.Where(t => t.Start + t.Latency >= deployStart && t.Start <= firstV2).Select(t => t.Latency)):0} ms during it");

        failures.Should().BeEmpty();
        results.Keys.Order().Should().Equal(Enumerable.Range(0, total), "every call returns exactly one result");
        results.Values.Where(r => r.AfterDeploy).Should().NotBeEmpty().And.OnlyContain(r => r.Result == "v2", "calls made after the redeploy go to the new version");
        results.Values.Where(r => !r.AfterDeploy).Select(r => r.Result).Distinct().Should().BeSubsetOf(["v1", "v2"]);
        v2.Version.Should().Be(2);
        await fixture.WaitUntilAsync(() => fixture.Scheduler.GetApp(v1.AppId).State == AppStates.Stopped && fixture.Scheduler.ListContainers(v1.AppId).Count == 0);
        (await fixture.LogsAsync(v1.AppId)).Should().Contain(l => l.Text == "Drained: every input of this version has finished.");
        fixture.Scheduler.GetApp(v2.AppId).State.Should().Be(AppStates.Deployed);
    }

    [Fact]
    public async Task Rollback_to_v1_serves_v1s_code_as_a_new_version()
    {
        using var timeout = new CancellationTokenSource(Limit);
        var name = Unique("rollback");
        await fixture.DeployAsync(name, await fixture.UploadVersionedBuildAsync("v1"), tag: "one");
        await fixture.DeployAsync(name, await fixture.UploadVersionedBuildAsync("v2"), tag: "two");
        using var connection = NewConnection();
        var version = await Function.FromNameAsync<Function<string>>(name, "deployed_version", connection, timeout.Token);
        var before = await version.RemoteAsync(timeout.Token);
        using var http = fixture.NewHttpClient();

        var rollback = await http.PostAsJsonAsync(Routes.Rollback(name), new RollbackRequest(1), ProtocolJsonContext.Default.RollbackRequest, timeout.Token);
        var after = await version.RemoteAsync(timeout.Token);
        var history = await http.GetFromJsonAsync(Routes.AppHistory(name), ProtocolJsonContext.Default.AppHistory, timeout.Token);

        rollback.EnsureSuccessStatusCode();
        before.Should().Be("v2");
        after.Should().Be("v1");
        history!.Versions.Select(v => (v.Version, v.Tag, v.RollbackOf)).Should().Equal((1, "one", null), (2, "two", null), (3, "one", (int?)1));
        history.Versions[2].State.Should().Be(AppStates.Deployed);
        history.Versions[0].BuildId.Should().Be(history.Versions[2].BuildId);
    }

    [Fact]
    public async Task Rollback_to_a_version_that_does_not_exist_is_a_404_naming_the_versions()
    {
        using var timeout = new CancellationTokenSource(Limit);
        var name = Unique("norollback");
        await fixture.DeployAsync(name, await fixture.UploadVersionedBuildAsync("v1"));
        using var http = fixture.NewHttpClient();

        var response = await http.PostAsJsonAsync(Routes.Rollback(name), new RollbackRequest(7), ProtocolJsonContext.Default.RollbackRequest, timeout.Token);
        var error = await response.Content.ReadFromJsonAsync(ProtocolJsonContext.Default.ErrorResponse, timeout.Token);

        ((int)response.StatusCode).Should().Be(404);
        error!.Message.Should().Be($"App '{name}' has no version 7. Versions: v1.");
    }
}
