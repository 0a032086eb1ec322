using FluentAssertions;
using Ferry.Protocol;
using Ferry.TestApp;

namespace Ferry.IntegrationTests;

/// <summary>
/// Cold starts that specialise a pre-started placeholder process (process runtime), compared with cold starts of a
/// worker without placeholders: user code must not be able to tell them apart.
/// </summary>
public sealed class PlaceholderTests(PlaceholderFixture placeholders, ServerFixture fresh) : IClassFixture<PlaceholderFixture>, IClassFixture<ServerFixture>
{
    // What differs between any two containers, placeholder or not: their identity, their server, their first input.
    private static readonly string[] PerContainer =
        [FerryEnv.ContainerId, FerryEnv.ContainerToken, FerryEnv.AppId, FerryEnv.ServerUrl, FerryEnv.FirstInput];

    private static async Task<T> WithinAsync<T>(Task<T> call) => await call.WaitAsync(TimeSpan.FromSeconds(60));

    /// <summary>A cold start of <paramref name="function"/> on a new app of <paramref name="fixture"/>; with placeholders, from one.</summary>
    private static async Task<T> ColdAsync<T>(ServerFixture fixture, Func<Task<T>> function)
    {
        await NewAppAsync(fixture);
        if (fixture is PlaceholderFixture pool)
        {
            await pool.WaitForPlaceholderAsync();
        }
        var taken = (fixture as PlaceholderFixture)?.Placeholders.Taken;
        var result = await WithinAsync(function());
        if (fixture is PlaceholderFixture after)
        {
            after.Placeholders.Taken.Should().Be(taken + 1, "the cold start took a ready placeholder");
        }
        return result;
    }

    /// <summary>A new app of <paramref name="fixture"/>, once its min container of `warm` (which may take a placeholder) is ready.</summary>
    private static async Task NewAppAsync(ServerFixture fixture)
    {
        var appId = await fixture.NewAppAsync();
        await fixture.WaitUntilAsync(() => fixture.Scheduler.PoolsOfApp(appId).Any(p => p.PoolId == "warm"
            && p.Containers.Values.Any(c => c.Status == Ferry.Server.Scheduling.ContainerStatus.Ready)));
    }

    [Fact]
    public async Task A_maps_containers_start_as_new_processes_with_tiering_off_while_a_calls_comes_from_a_placeholder()
    {
        var call = await ColdAsync(placeholders, () => placeholders.Functions.Placeholders.Probe.RemoteAsync("call"));
        call.Environment.Should().NotContainKey("DOTNET_TieredCompilation", "a call's container keeps the runtime's defaults");

        await NewAppAsync(placeholders);
        await placeholders.WaitForPlaceholderAsync();
        var taken = placeholders.Placeholders.Taken;
        var mapped = new List<ContainerProbe>();
        var labels = Enumerable.Range(0, Ferry.Server.Scheduling.PoolScaler.ManyInputs).Select(i => $"item-{i}");
        await foreach (var probe in placeholders.Functions.Placeholders.Probe.MapAsync(labels).WithCancellation(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token))
        {
            mapped.Add(probe);
        }

        mapped.Should().HaveCount(Ferry.Server.Scheduling.PoolScaler.ManyInputs).And.OnlyContain(p => p.Environment["DOTNET_TieredCompilation"] == "0",
            "a map's containers compile their code once, fully optimised");
        mapped.Should().OnlyContain(p => p.Environment["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] == "0", "a map's containers' idle workers sleep at once");
        mapped.Should().OnlyContain(p => p.Environment["PROBE_SECRET"] == PlaceholderFunctions.SecretValue);
        placeholders.Placeholders.Taken.Should().Be(taken, "a placeholder started with tiering on, so the map's containers are new processes");
    }

    [Fact]
    public async Task Specialised_placeholder_has_the_environment_directory_and_identity_of_a_fresh_container()
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
        // The same build, under each worker's own data dir.
        Path.GetRelativePath(placeholders.WorkerDataDir, actual.WorkingDirectory).Should().Be(Path.GetRelativePath(fresh.WorkerDataDir, expected.WorkingDirectory))
            .And.StartWith("builds");
        Path.GetRelativePath(placeholders.WorkerDataDir, actual.BaseDirectory).Should().Be(Path.GetRelativePath(fresh.WorkerDataDir, expected.BaseDirectory));
        actual.EntryAssembly.Should().Be(expected.EntryAssembly).And.Be("Ferry.TestApp");
        actual.StandardInput.Should().Be(expected.StandardInput).And.BeEmpty();
        actual.PreviousStatic.Should().BeNull();
        actual.Hostname.Should().Be(expected.Hostname);
        // This process's nice value is the worker's: the worker runs in it.
        actual.Nice.Should().Be(expected.Nice).And.Be(PlaceholderFunctions.OwnStat().Nice + Ferry.Worker.Runtimes.ProcessRuntime.ContainerNice,
            "a container runs below the worker's priority, so the control plane keeps the CPU it needs");
    }

    [Fact]
    public async Task Specialised_placeholder_sees_the_limits_a_fresh_process_sees()
    {
        // The process runtime applies no limits: what a placeholder must match is what a new process reads at start.
        var expected = await ColdAsync(fresh, () => fresh.Functions.Placeholders.ProbeLimited.RemoteAsync("fresh"));
        var actual = await ColdAsync(placeholders, () => placeholders.Functions.Placeholders.ProbeLimited.RemoteAsync("specialised"));

        actual.Limits.Should().Equal(expected.Limits);
        actual.ProcessorCount.Should().Be(expected.ProcessorCount).And.Be(Environment.ProcessorCount);
        actual.TotalAvailableMemoryBytes.Should().Be(expected.TotalAvailableMemoryBytes);
    }

    [Fact]
    public async Task Placeholder_is_never_reused_across_apps_and_statics_start_fresh()
    {
        var first = await ColdAsync(placeholders, () => placeholders.Functions.Placeholders.Probe.RemoteAsync("app-a"));
        // The same app's warm container keeps its statics, so a leak would show.
        var warm = await WithinAsync(placeholders.Functions.Placeholders.Probe.RemoteAsync("app-a-again"));
        var second = await ColdAsync(placeholders, () => placeholders.Functions.Placeholders.Probe.RemoteAsync("app-b"));

        first.PreviousStatic.Should().BeNull();
        warm.ProcessId.Should().Be(first.ProcessId);
        warm.PreviousStatic.Should().Be("app-a");
        second.ProcessId.Should().NotBe(first.ProcessId, "each app's container is a placeholder of its own");
        second.PreviousStatic.Should().BeNull("a static set by one app is not visible in another");
    }

    [Fact]
    public async Task Specialised_placeholder_runs_constructor_enter_hooks_and_parameters_in_a_fresh_containers_order()
    {
        static string WithoutPid(string events) => events[..events.IndexOf("|pid=", StringComparison.Ordinal)];
        var expected = await ColdAsync(fresh, () => fresh.Functions.Placeholders.Lifecycle.With(new { Label = "p1" }).Method(c => c.Events).RemoteAsync());
        var actual = await ColdAsync(placeholders, () => placeholders.Functions.Placeholders.Lifecycle.With(new { Label = "p1" }).Method(c => c.Events).RemoteAsync());

        WithoutPid(actual).Should().Be(WithoutPid(expected)).And.EndWith("constructor,snap-enter:p1,enter:p1");
    }
}
