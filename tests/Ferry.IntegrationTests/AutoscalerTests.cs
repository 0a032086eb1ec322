using FluentAssertions;
using Ferry.Server.Scheduling;

namespace Ferry.IntegrationTests;

public sealed class AutoscalerTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private readonly Ferry.TestApp.TestFunctions _f = fixture.Functions;

    [Fact]
    public async Task A_burst_never_runs_more_than_max_containers()
    {
        var appId = await fixture.NewAppAsync();

        var calls = Enumerable.Range(0, 12).Select(_ => _f.Burst.RemoteAsync(300)).ToList();
        var containers = await Task.WhenAll(calls);

        containers.Distinct().Count().Should().BeInRange(1, 2);
        fixture.Pool(appId, "burst").PeakContainers.Should().Be(2, "twelve slow inputs ask for more than the maximum of two");
    }

    [Fact]
    public async Task Min_containers_are_kept_warm_without_traffic()
    {
        var appId = await fixture.NewAppAsync();

        await fixture.WaitUntilAsync(() => fixture.Pool(appId, "warm").Containers.Values.Count(c => c.Status == ContainerStatus.Ready) == 1);

        var stats = await _f.Warm.GetCurrentStatsAsync();
        stats.Containers.Should().Be(1);
        stats.Backlog.Should().Be(0);
    }

    [Fact]
    public async Task Stats_show_backlog_containers_and_running_inputs()
    {
        var appId = await fixture.NewAppAsync();
        await _f.Burst.UpdateAutoscalerAsync(maxContainers: 1);

        var calls = Enumerable.Range(0, 3).Select(_ => _f.Burst.RemoteAsync(2_000)).ToList();
        var pool = fixture.Pool(appId, "burst");
        await fixture.WaitUntilAsync(() => pool.Ready.Count + pool.RunningInputs == 3 && pool.Containers.Values.Sum(c => c.StartedCount) == 1);
        var stats = await _f.Burst.GetCurrentStatsAsync();

        stats.Containers.Should().Be(1);
        stats.RunningInputs.Should().Be(1);
        stats.Backlog.Should().Be(2);
        await Task.WhenAll(calls);
    }

    [Fact]
    public async Task A_small_map_of_a_trivial_function_on_a_warm_container_starts_no_other_container()
    {
        var appId = await fixture.NewAppAsync();
        for (var i = 0; i < 3; i++)
        {
            (await _f.Square.RemoteAsync(i)).Should().Be(i * i);
        }
        var pool = fixture.Pool(appId, "square");

        var results = new List<int>();
        await foreach (var result in _f.Square.MapAsync(Enumerable.Range(1, 5)))
        {
            results.Add(result);
        }

        results.Should().Equal(1, 4, 9, 16, 25);
        pool.PeakContainers.Should().Be(1, "five inputs of microseconds each are done long before a new container could be ready");
    }

    [Fact]
    public async Task A_backlog_of_slow_inputs_on_a_warm_container_still_scales_out()
    {
        var appId = await fixture.NewAppAsync();
        await _f.Sleep.RemoteAsync(0);
        var pool = fixture.Pool(appId, "sleep");
        // Inputs three times as long as a cold start here (measured, so the test holds on a slow machine too), with
        // one such input measured.
        var coldStart = pool.ColdStart ?? throw new InvalidOperationException("The warm container's cold start was not measured.");
        var milliseconds = (int)(3 * coldStart.TotalMilliseconds) + 1_000;
        await _f.Sleep.RemoteAsync(milliseconds);

        var containers = new List<string>();
        await foreach (var container in _f.Sleep.MapAsync([milliseconds, milliseconds, milliseconds]))
        {
            containers.Add(container);
        }

        containers.Should().HaveCount(3);
        pool.PeakContainers.Should().Be(3, "each of the three inputs would wait longer than a new container takes to start");
        containers.Distinct().Should().HaveCount(3);
    }

    [Fact]
    public async Task A_map_of_a_function_measured_as_trivial_runs_on_one_container_per_core()
    {
        var appId = await fixture.NewAppAsync();
        var pool = fixture.Pool(appId, "sleep");
        // The containers' reports of how long the function ran: a new container's first inputs, compiled as they run,
        // can take milliseconds, so small maps run until the average has settled below the line.
        for (var maps = 0; pool.RunTime is not { } runTime || runTime > PoolScaler.CoreBoundInput; maps++)
        {
            maps.Should().BeLessThan(20, $"a function that returns at once runs for microseconds, not {pool.RunTime}");
            await foreach (var _ in _f.Sleep.MapAsync(Enumerable.Repeat(0, 200)))
            {
            }
        }

        var containers = new HashSet<string>();
        await foreach (var container in _f.Sleep.MapAsync(Enumerable.Repeat(0, 5_000)))
        {
            containers.Add(container);
        }

        pool.CoreCap.Should().Be(Environment.ProcessorCount, "the worker has a core per processor, and the function runs for microseconds");
        containers.Count.Should().BeLessThanOrEqualTo(Environment.ProcessorCount, "only the containers for the cores are fed");
    }

    [Fact]
    public async Task A_map_of_inputs_that_wait_scales_out_past_the_workers_cores()
    {
        var appId = await fixture.NewAppAsync();

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var containers = new HashSet<string>();
        await foreach (var container in _f.Sleep.MapAsync(Enumerable.Repeat(100, 100), cancellationToken: timeout.Token))
        {
            containers.Add(container);
        }

        // Inputs that wait 100 ms use no CPU meanwhile: the cap of one container per core must not hold them.
        var pool = fixture.Pool(appId, "sleep");
        pool.PeakContainers.Should().BeGreaterThan(Environment.ProcessorCount);
        containers.Should().HaveCountGreaterThan(Environment.ProcessorCount);
    }
}

public sealed class ScaleDownTests(ManualClockFixture fixture) : IClassFixture<ManualClockFixture>
{
    [Fact]
    public async Task Idle_containers_stop_after_the_scaledown_window_and_not_before()
    {
        var appId = await fixture.NewAppAsync();
        await fixture.Functions.Idle.RemoteAsync(0);
        var pool = fixture.Pool(appId, "idle");
        await fixture.WaitUntilAsync(() => pool.Containers.Count == 1);

        fixture.ManualClock.Advance(TimeSpan.FromSeconds(59));
        fixture.Server.Tick();
        (await fixture.Functions.Idle.GetCurrentStatsAsync()).Should().BeEquivalentTo(new Ferry.Protocol.FunctionStats(0, 1, 0, 1));

        fixture.ManualClock.Advance(TimeSpan.FromSeconds(2));
        fixture.Server.Tick();
        await fixture.WaitUntilAsync(() => pool.Containers.Count == 0);

        (await fixture.Functions.Idle.GetCurrentStatsAsync()).Containers.Should().Be(0);
    }
}
