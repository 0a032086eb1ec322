using FluentAssertions;
using Ferry.Protocol;
using Ferry.TestApp;
using Ferry.Worker.Runtimes.Placeholders;

namespace Ferry.IntegrationTests;

/// <summary>
/// Cold starts on runc that specialise a pre-started placeholder container, compared with fresh runc containers of a
/// worker without placeholders: user code must not be able to tell them apart, limits included.
/// </summary>
public sealed class RuncPlaceholderTests(RuncPlaceholderFixture placeholders, RuncFixture fresh) : IClassFixture<RuncPlaceholderFixture>, IClassFixture<RuncFixture>
{
    // What differs between any two containers, placeholder or not: their identity, their server, their first input.
    private static readonly string[] PerContainer =
        [FerryEnv.ContainerId, FerryEnv.ContainerToken, FerryEnv.AppId, FerryEnv.ServerUrl, FerryEnv.FirstInput];

    private static async Task<T> WithinAsync<T>(Task<T> call) => await call.WaitAsync(TimeSpan.FromMinutes(2));

    /// <summary>
    /// A cold start of <paramref name="function"/> on a new app of <paramref name="fixture"/>; on the placeholder worker,
    /// after the pool has started what earlier cold starts asked for, and (when <paramref name="fromPlaceholder"/>)
    /// asserting that it took a placeholder.
    /// </summary>
    private static async Task<T> ColdAsync<T>(ServerFixture fixture, Func<Task<T>> function, bool fromPlaceholder = true, string? buildId = null) =>
        (await ColdOnAppAsync(fixture, function, fromPlaceholder, buildId)).Result;

    private static async Task<(T Result, string AppId)> ColdOnAppAsync<T>(ServerFixture fixture, Func<Task<T>> function, bool fromPlaceholder = true,
        string? buildId = null)
    {
        var appId = await fixture.NewAppAsync(buildId);
        // The app's min container of `warm` starts on its own, and may take a placeholder first: let it.
        await fixture.WaitUntilAsync(() => fixture.Scheduler.PoolsOfApp(appId).Any(p => p.PoolId == "warm"
            && p.Containers.Values.Any(c => c.Status == Ferry.Server.Scheduling.ContainerStatus.Ready)));
        var pool = fixture as RuncPlaceholderFixture;
        if (pool is not null)
        {
            await pool.WaitForPlaceholdersAsync();
        }
        var taken = pool?.Placeholders.Taken;
        var result = await WithinAsync(function());
        if (pool is not null && fromPlaceholder)
        {
            pool.Placeholders.Taken.Should().Be(taken + 1, "the cold start took a ready placeholder");
        }
        return (result, appId);
    }

    [RuncFact]
    public async Task Runc_cold_start_takes_a_placeholder_with_the_environment_directory_identity_and_limits_of_a_fresh_container()
    {
        var expected = await ColdAsync(fresh, () => fresh.Functions.Placeholders.Probe.RemoteAsync("fresh"));
        var actual = await ColdAsync(placeholders, () => placeholders.Functions.Placeholders.Probe.RemoteAsync("specialised"));

        actual.Environment["PROBE_SECRET"].Should().Be(PlaceholderFunctions.SecretValue, "the function's secret is in its environment");
        actual.NativeSecret.Should().Be(PlaceholderFunctions.SecretValue, "native code reads the same environment");
        actual.Environment.Keys.Except(PerContainer).Should().BeEquivalentTo(expected.Environment.Keys.Except(PerContainer),
            "a specialised placeholder has exactly a fresh container's variables: none of its own left over, none missing");
        foreach (var (key, value) in expected.Environment.Where(e => !PerContainer.Contains(e.Key)))
        {
            actual.Environment[key].Should().Be(value, $"{key} is the same in both");
        }
        actual.WorkingDirectory.Should().Be(expected.WorkingDirectory).And.Be("/app");
        actual.BaseDirectory.Should().Be(expected.BaseDirectory).And.Be("/app/");
        actual.EntryAssembly.Should().Be(expected.EntryAssembly).And.Be("Ferry.TestApp");
        actual.StandardInput.Should().Be(expected.StandardInput).And.BeEmpty();
        actual.PreviousStatic.Should().BeNull();
        expected.Hostname.Should().Be(expected.Environment[FerryEnv.ContainerId]);
        actual.Hostname.Should().Be(actual.Environment[FerryEnv.ContainerId], "a specialised placeholder is named after its container, as a fresh one is");
        actual.ProcessId.Should().Be(expected.ProcessId).And.Be(1, "the program is the first process of its PID namespace in both");
        actual.Limits.Should().Equal(expected.Limits);
        actual.Limits["pids/pids.max"].Should().Be("1024");
        actual.Limits["cpu/cpu.shares"].Should().Be("1024", "a placeholder starts with the least CPU shares, and gets every container's when specialised");
        actual.ProcessorCount.Should().Be(expected.ProcessorCount);
        actual.TotalAvailableMemoryBytes.Should().Be(expected.TotalAvailableMemoryBytes);
    }

    [RuncFact]
    public async Task Specialised_runc_placeholder_has_the_functions_memory_cpu_and_pids_limits_from_its_first_line()
    {
        var expected = await ColdAsync(fresh, () => fresh.Functions.Placeholders.ProbeLimited.RemoteAsync("fresh"));
        // The first cold start of this kind (its CPU quota gives .NET another processor count) asks for placeholders
        // of it; the next takes one.
        await ColdAsync(placeholders, () => placeholders.Functions.Placeholders.ProbeLimited.RemoteAsync("first"), fromPlaceholder: false);
        var actual = await ColdAsync(placeholders, () => placeholders.Functions.Placeholders.ProbeLimited.RemoteAsync("specialised"));

        var memory = (PlaceholderFunctions.LimitedMemoryMiB * 1024L * 1024L).ToString(System.Globalization.CultureInfo.InvariantCulture);
        expected.Limits.Should().Equal(new Dictionary<string, string>
        {
            ["memory/memory.limit_in_bytes"] = memory,
            ["memory/memory.memsw.limit_in_bytes"] = memory,
            ["cpu/cpu.cfs_quota_us"] = "50000",
            ["cpu/cpu.cfs_period_us"] = "100000",
            ["cpu/cpu.shares"] = "1024",
            ["pids/pids.max"] = "1024",
        });
        actual.Limits.Should().Equal(expected.Limits, "the function's limits are applied before its code runs");
        actual.ProcessorCount.Should().Be(expected.ProcessorCount).And.Be(1, "half a CPU is one processor to .NET");
        actual.TotalAvailableMemoryBytes.Should().Be(expected.TotalAvailableMemoryBytes).And.Be(PlaceholderFunctions.LimitedMemoryMiB * 1024L * 1024L * 3 / 4,
            "the GC's heap limit is three quarters of the container's memory limit, as .NET sets it in a container");
        actual.PreviousStatic.Should().BeNull();
    }

    [RuncFact]
    public async Task Exec_reaches_a_specialised_placeholder_by_its_container_id()
    {
        var (probe, appId) = await ColdOnAppAsync(placeholders, () => placeholders.Functions.Placeholders.Probe.RemoteAsync("exec"));
        var containerId = placeholders.Pool(appId, "probe").Containers.Keys.Single();

        var hostname = await SessionClient.RunAsync(placeholders, $"{Routes.Exec(containerId)}?{SessionTests.Args("cat", "/proc/sys/kernel/hostname", "/app/Ferry.TestApp.runtimeconfig.json")}");

        probe.Environment[FerryEnv.ContainerId].Should().Be(containerId);
        hostname.ExitCode.Should().Be(0, hostname.Stderr);
        hostname.Stdout.Should().StartWith(containerId + "\n", "the command runs in the container that was the placeholder")
            .And.Contain("runtimeOptions", "the build is in its /app");
    }

    [RuncFact]
    public async Task Runc_placeholder_is_never_reused_across_apps_and_statics_start_fresh()
    {
        var first = await ColdAsync(placeholders, () => placeholders.Functions.Placeholders.Probe.RemoteAsync("app-a"));
        // The same app's warm container keeps its statics, so a leak would show.
        var warm = await WithinAsync(placeholders.Functions.Placeholders.Probe.RemoteAsync("app-a-again"));
        var second = await ColdAsync(placeholders, () => placeholders.Functions.Placeholders.Probe.RemoteAsync("app-b"));

        first.PreviousStatic.Should().BeNull();
        warm.ProcessStartTicks.Should().Be(first.ProcessStartTicks);
        warm.PreviousStatic.Should().Be("app-a");
        second.ProcessStartTicks.Should().NotBe(first.ProcessStartTicks, "each app's container is a placeholder of its own");
        second.Hostname.Should().NotBe(first.Hostname);
        second.PreviousStatic.Should().BeNull("a static set by one app is not visible in another");
    }

    [RuncFact]
    public async Task Specialised_runc_placeholder_runs_constructor_enter_hooks_and_parameters_in_a_fresh_containers_order()
    {
        static string WithoutPid(string events) => events[..events.IndexOf("|pid=", StringComparison.Ordinal)];
        var expected = await ColdAsync(fresh, () => fresh.Functions.Placeholders.Lifecycle.With(new { Label = "p1" }).Method(c => c.Events).RemoteAsync());
        var actual = await ColdAsync(placeholders, () => placeholders.Functions.Placeholders.Lifecycle.With(new { Label = "p1" }).Method(c => c.Events).RemoteAsync());

        WithoutPid(actual).Should().Be(WithoutPid(expected)).And.EndWith("constructor,snap-enter:p1,enter:p1");
    }

    /// <summary>
    /// Uploads a build of the test app whose runtime settings are those <c>ferry run</c> gives a program (tiered PGO
    /// set in its runtimeconfig.json): a kind of its own, which the default placeholder can run. Returns the build and
    /// its settings' key.
    /// </summary>
    private static async Task<(string BuildId, string RuntimeKey)> UploadTieredPgoBuildAsync(ServerFixture fixture)
    {
        string? key = null;
        var buildId = await fixture.UploadBuildAsync("tiered-pgo", async dir =>
        {
            var path = Path.Combine(dir, "Ferry.TestApp.runtimeconfig.json");
            var config = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(path))!;
            config["runtimeOptions"]!["configProperties"]!["System.Runtime.TieredPGO"] = true;
            await File.WriteAllTextAsync(path, config.ToJsonString());
            key = PlaceholderFiles.RuntimeOptionsKey(config.ToJsonString());
        });
        return (buildId, key!);
    }

    [RuncFact]
    public async Task Program_of_other_runtime_settings_the_default_can_run_takes_a_default_placeholder_and_sees_a_fresh_container()
    {
        var defaultKey = PlaceholderFiles.RuntimeOptionsKey(PlaceholderFiles.DefaultRuntimeConfig()!)!;
        var (freshBuild, _) = await UploadTieredPgoBuildAsync(fresh);
        var (build, programKey) = await UploadTieredPgoBuildAsync(placeholders);
        programKey.Should().NotBe(defaultKey, "the program is of a kind of its own");
        PlaceholderFiles.CanHost(defaultKey, programKey).Should().BeTrue();
        var defaultConfig = "/run/ferry/placeholder/" + PlaceholderFiles.RuntimeConfigName(defaultKey);

        var expected = await ColdAsync(fresh, () => fresh.Functions.Placeholders.Probe.RemoteAsync("fresh"), buildId: freshBuild);
        var actual = await ColdAsync(placeholders, () => placeholders.Functions.Placeholders.Probe.RemoteAsync("app-a"), buildId: build);
        var warm = await WithinAsync(placeholders.Functions.Placeholders.Probe.RemoteAsync("app-a-again"));
        var other = await ColdAsync(placeholders, () => placeholders.Functions.Placeholders.Probe.RemoteAsync("app-b"), buildId: build);

        actual.CommandLine.Should().Contain(defaultConfig, "the container was a placeholder of the default runtime settings");
        other.CommandLine.Should().Contain(defaultConfig);
        expected.CommandLine.Should().NotContain(defaultConfig);
        actual.Environment.Keys.Except(PerContainer).Should().BeEquivalentTo(expected.Environment.Keys.Except(PerContainer));
        foreach (var (key, value) in expected.Environment.Where(e => !PerContainer.Contains(e.Key)))
        {
            actual.Environment[key].Should().Be(value, $"{key} is the same in both");
        }
        actual.NativeSecret.Should().Be(PlaceholderFunctions.SecretValue);
        actual.WorkingDirectory.Should().Be(expected.WorkingDirectory).And.Be("/app");
        actual.BaseDirectory.Should().Be(expected.BaseDirectory).And.Be("/app/");
        actual.EntryAssembly.Should().Be(expected.EntryAssembly).And.Be("Ferry.TestApp");
        actual.StandardInput.Should().Be(expected.StandardInput).And.BeEmpty();
        actual.Hostname.Should().Be(actual.Environment[FerryEnv.ContainerId]);
        actual.ProcessId.Should().Be(expected.ProcessId).And.Be(1);
        actual.Limits.Should().Equal(expected.Limits);
        actual.ProcessorCount.Should().Be(expected.ProcessorCount);
        actual.TotalAvailableMemoryBytes.Should().Be(expected.TotalAvailableMemoryBytes);
        expected.PreviousStatic.Should().BeNull();
        actual.PreviousStatic.Should().BeNull();
        warm.ProcessStartTicks.Should().Be(actual.ProcessStartTicks);
        warm.PreviousStatic.Should().Be("app-a", "the app's warm container keeps its statics");
        other.ProcessStartTicks.Should().NotBe(actual.ProcessStartTicks, "each app's container is a placeholder of its own");
        other.PreviousStatic.Should().BeNull("a static set by one app is not visible in another");
    }

    [RuncFact]
    public async Task Program_of_other_runtime_settings_in_a_default_placeholder_has_the_functions_limits()
    {
        var defaultKey = PlaceholderFiles.RuntimeOptionsKey(PlaceholderFiles.DefaultRuntimeConfig()!)!;
        var (freshBuild, _) = await UploadTieredPgoBuildAsync(fresh);
        var (build, _) = await UploadTieredPgoBuildAsync(placeholders);

        var expected = await ColdAsync(fresh, () => fresh.Functions.Placeholders.ProbeLimited.RemoteAsync("fresh"), buildId: freshBuild);
        // Its CPU quota gives .NET another processor count: the first cold start asks for default placeholders of
        // that count (it may find one an earlier test asked for); the next takes one.
        await ColdAsync(placeholders, () => placeholders.Functions.Placeholders.ProbeLimited.RemoteAsync("first"), fromPlaceholder: false, buildId: build);
        var actual = await ColdAsync(placeholders, () => placeholders.Functions.Placeholders.ProbeLimited.RemoteAsync("specialised"), buildId: build);

        actual.CommandLine.Should().Contain("/run/ferry/placeholder/" + PlaceholderFiles.RuntimeConfigName(defaultKey));
        expected.Limits["cpu/cpu.cfs_quota_us"].Should().Be("50000");
        actual.Limits.Should().Equal(expected.Limits, "the function's limits are applied before its code runs");
        actual.ProcessorCount.Should().Be(expected.ProcessorCount).And.Be(1);
        actual.TotalAvailableMemoryBytes.Should().Be(expected.TotalAvailableMemoryBytes);
        actual.PreviousStatic.Should().BeNull();
    }

    /// <summary>Moves the pool's clock a window on, and waits until only the base placeholder, which is pinned, is kept.</summary>
    private async Task AgeOutAsync()
    {
        var pool = placeholders.Placeholders;
        placeholders.PlaceholderClock.Advance(placeholders.Options.RateWindow + TimeSpan.FromSeconds(1));
        // Well under the window: with the pool on another clock than the test's, nothing would age out in time.
        using var timeout = new CancellationTokenSource(placeholders.Options.RateWindow / 2);
        await pool.WaitUntilAsync(() => pool.Count == 1 && pool.ReadyTotal == 1, timeout.Token);
    }

    [RuncFact]
    public async Task Runc_pool_keeps_as_many_as_the_cold_starts_of_its_clocks_window_and_retires_them_as_they_age()
    {
        // A cold start of the base image pins its placeholder, whichever test runs first.
        await ColdAsync(placeholders, () => placeholders.Functions.Placeholders.Probe.RemoteAsync("pin"), fromPlaceholder: false);
        await placeholders.WaitForPlaceholdersAsync();
        await AgeOutAsync();
        placeholders.Placeholders.Count.Should().Be(1, "every cold start so far is a window old");

        // Two cold starts in the window: the app's min container and the call.
        await ColdAsync(placeholders, () => placeholders.Functions.Placeholders.Probe.RemoteAsync("sized"));
        await placeholders.WaitForPlaceholdersAsync();
        placeholders.Placeholders.Count.Should().Be(2, "two cold starts in the window ask for two");
        placeholders.Placeholders.ReadyTotal.Should().Be(2);

        await AgeOutAsync();
        placeholders.Placeholders.Count.Should().Be(1, "the pool shrinks back to the base placeholder once its cold starts are a window old");
    }
}
