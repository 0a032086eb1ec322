using FluentAssertions;

namespace Ferry.IntegrationTests;

public sealed class RuncTests(RuncFixture fixture) : IClassFixture<RuncFixture>
{
    private readonly Ferry.TestApp.TestFunctions _f = fixture.Functions;

    [RuncFact]
    public async Task A_function_cannot_see_the_hosts_files_outside_its_mounts()
    {
        await fixture.NewAppAsync();
        var secret = Path.Combine(Path.GetTempPath(), "ferry-host-secret-" + Guid.NewGuid().ToString("N"));
        await File.WriteAllTextAsync(secret, "host only");

        (await _f.HostFileVisible.RemoteAsync(secret)).Should().BeFalse("the host's /tmp is not mounted into the container");
        (await _f.HostFileVisible.RemoteAsync("/work")).Should().BeFalse();
        (await _f.HostFileVisible.RemoteAsync("/app/Ferry.TestApp.dll")).Should().BeTrue("the build is mounted read-only at /app");
        File.Exists(secret).Should().BeTrue();
    }

    [RuncFact]
    public async Task A_function_past_its_memory_limit_fails_with_out_of_memory_and_the_worker_keeps_serving()
    {
        await fixture.NewAppAsync();

        var act = () => _f.Allocate.RemoteAsync(512);

        (await act.Should().ThrowAsync<ContainerCrashedException>()).Which.OutOfMemory.Should().BeTrue();
        (await _f.Square.RemoteAsync(12)).Should().Be(144);
    }

    [RuncFact]
    public async Task Half_a_cpu_is_throttled_to_about_half_of_the_wall_time()
    {
        await fixture.NewAppAsync();

        var ratio = await _f.Burn.RemoteAsync(2_000);

        ratio.Should().BeLessThan(0.7, "a quota of 50 ms per 100 ms period throttles a busy loop");
        ratio.Should().BeGreaterThan(0.2);
    }
}

public sealed class GpuTests(GpuFixture fixture) : IClassFixture<GpuFixture>
{
    [Fact]
    public async Task Two_fake_gpus_run_three_one_gpu_containers_two_at_a_time()
    {
        var appId = await fixture.NewAppAsync();
        var hold = fixture.Functions.GpuHold;

        var calls = Enumerable.Range(0, 3).Select(_ => hold.RemoteAsync(1_500)).ToList();
        var pool = fixture.Pool(appId, "gpu_hold");
        await fixture.WaitUntilAsync(() => pool.Containers.Values.Sum(c => c.StartedCount) == 2 && pool.Ready.Count + pool.RunningInputs == 3);
        var waiting = await hold.GetCurrentStatsAsync();
        var results = await Task.WhenAll(calls);

        waiting.Backlog.Should().Be(1, "the third input waits for a GPU instead of failing");
        waiting.Containers.Should().Be(2);
        pool.PeakContainers.Should().Be(2);
        results.Select(r => r.Split('|')[0]).Should().OnlyContain(d => d == "0" || d == "1");
    }
}
