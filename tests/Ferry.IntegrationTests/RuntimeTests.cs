using FluentAssertions;
using Ferry.Protocol;

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

        // No lower bound: on an oversubscribed machine a busy loop can get less than its quota, which says nothing of Ferry.
        ratio.Should().BeLessThan(0.7, "a quota of 50 ms per 100 ms period throttles a busy loop");
    }
}

public sealed class ImageTests(RuncFixture fixture) : IClassFixture<RuncFixture>
{
    private readonly Ferry.TestApp.TestFunctions _f = fixture.Functions;

    [RuncFact]
    public async Task An_apt_installed_tool_runs_and_a_second_app_reuses_the_cached_image()
    {
        var first = await fixture.NewAppAsync();

        // Two inputs start two containers at once; they share one build of the layer.
        var results = await Task.WhenAll(_f.Jq.RemoteAsync(".name"), _f.Jq.RemoteAsync(".tags"));
        var afterFirst = (await fixture.ImagesAsync()).Single(i => i.Steps.SequenceEqual(new[] { "apt_install jq" }));
        var firstLog = await fixture.LogsAsync(first);

        var second = await fixture.NewAppAsync();
        var again = await _f.Jq.RemoteAsync(".tags | length");
        var afterSecond = (await fixture.ImagesAsync()).Single(i => i.ImageId == afterFirst.ImageId);
        var secondLog = await fixture.LogsAsync(second);

        results.Should().Equal("\"ferry\"", "[\"a\",\"b\"]");
        again.Should().Be("2");
        afterFirst.Builds.Should().Be(1, "two containers asking for the same image at once build it once");
        afterSecond.Builds.Should().Be(1, "the second app finds every layer cached");
        firstLog.Count(e => e.Text.StartsWith("=> Step 1/1: apt_install jq", StringComparison.Ordinal)).Should().Be(1);
        firstLog.Should().Contain(e => e.Text.Contains("Setting up jq", StringComparison.Ordinal), "the build's output reaches the app's log");
        secondLog.Should().NotContain(e => e.Text.StartsWith("=> Step", StringComparison.Ordinal));
    }

    [RuncFact]
    public async Task Copied_and_mounted_files_env_workdir_commands_and_a_build_function_all_shape_the_image()
    {
        await fixture.NewAppAsync();

        var report = await _f.ImageFiles.RemoteAsync();

        report.Should().Be(string.Join("|",
            "copied into a layer;set by the image",
            "set by the image",
            "/srv/work",
            "written at build time in /srv/work",
            "mounted at start"));
    }

    [RuncFact]
    public async Task A_forced_step_rebuilds_once_per_app()
    {
        var first = await fixture.NewAppAsync();
        var stamp = await _f.Forced.RemoteAsync();
        var pool = fixture.Pool(first, "forced");
        foreach (var id in pool.Containers.Keys.ToList())
        {
            fixture.Scheduler.StopContainer(id);
        }
        await fixture.WaitUntilAsync(() => pool.Containers.Count == 0);
        var sameApp = await _f.Forced.RemoteAsync();

        await fixture.NewAppAsync();
        var nextApp = await _f.Forced.RemoteAsync();
        var image = (await fixture.ImagesAsync()).Single(i => i.Steps.Contains("run_commands cat /proc/sys/kernel/random/uuid > /stamp"));

        sameApp.Should().Be(stamp, "a second container of the same app reuses the layer it forced");
        nextApp.Should().NotBe(stamp, "the next app forces the step again");
        image.Builds.Should().Be(2);
    }

    [RuncFact]
    public async Task A_build_function_that_throws_fails_the_build_with_its_exception_and_the_users_frame()
    {
        await fixture.NewAppAsync();

        var act = () => _f.FailingBuild.RemoteAsync(1);

        var error = (await act.Should().ThrowAsync<ImageBuildException>()).Which;
        error.Message.Should().Contain("Step 1/1: run_function TestFunctions.ThrowAtBuild")
            .And.Contain("The build function TestFunctions.ThrowAtBuild raised System.InvalidOperationException: no weights to download")
            .And.Contain("TestFunctions.ThrowAtBuild()")
            .And.NotContain("Ferry.Hosting.ProgramHost");
    }

    [RuncFact]
    public async Task An_unknown_apt_package_fails_the_build_with_apts_message_and_caches_nothing()
    {
        var appId = await fixture.NewAppAsync();

        var act = () => _f.MissingPackage.RemoteAsync(1);

        var error = (await act.Should().ThrowAsync<ImageBuildException>()).Which;
        error.Message.Should().Contain("Step 1/1: apt_install ferry-no-such-package")
            .And.Contain("E: Unable to locate package ferry-no-such-package");
        (await fixture.ImagesAsync()).Should().NotContain(i => i.Steps.Contains("apt_install ferry-no-such-package"));
        fixture.Pool(appId, "missing_package").Containers.Should().BeEmpty();
    }
}

public sealed class SnapshotTests(RuncFixture fixture) : IClassFixture<RuncFixture>
{
    [RuncFact]
    public async Task Without_working_criu_snapshot_functions_cold_start_and_the_app_is_told_once()
    {
        var support = await Ferry.Worker.Runtimes.Runc.SnapshotSupport.ProbeAsync("runc", CancellationToken.None);
        var appId = await fixture.NewAppAsync();
        var hooks = fixture.Functions.Snapshotted.Method<string>(s => s.Hooks);

        var first = await hooks.RemoteAsync();
        var pool = fixture.Scheduler.PoolsOfApp(appId).Single(p => p.PoolId.StartsWith("Snapshotted", StringComparison.Ordinal));
        foreach (var id in pool.Containers.Keys.ToList())
        {
            fixture.Scheduler.StopContainer(id);
        }
        await fixture.WaitUntilAsync(() => pool.Containers.Count == 0);
        var second = await hooks.RemoteAsync();
        var warnings = (await fixture.LogsAsync(appId)).Count(e => e.Text == support.Warning);

        support.Available.Should().BeFalse("this version cold-starts everywhere; the integration test of restoring runs only where it is built");
        first.Should().Be("snap,enter", "the snap hook runs first, then the regular one");
        second.Should().Be("snap,enter", "the second container cold-started and ran both hooks again");
        warnings.Should().Be(1, "the app hears about the missing snapshots once, not once per container");
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

public sealed class RuncGpuTests(RuncGpuFixture fixture) : IClassFixture<RuncGpuFixture>
{
    [RuncFact]
    public async Task A_gpu_container_on_runc_starts_with_a_configured_inventory_and_is_told_its_device()
    {
        await fixture.NewAppAsync();

        var seen = await fixture.Functions.GpuHold.RemoteAsync(10);

        seen.Split('|')[0].Should().BeOneOf("0", "1");
    }

    [RuncFact]
    public async Task A_shell_for_a_gpu_function_holds_a_gpu_of_its_own()
    {
        var appId = await fixture.NewAppAsync();

        var shell = await SessionClient.RunAsync(fixture, $"{Routes.Shell(appId)}?function=gpu_hold&{SessionTests.Args("/bin/sh", "-c", "echo $CUDA_VISIBLE_DEVICES")}");

        shell.ExitCode.Should().Be(0);
        shell.Stdout.Trim().Should().BeOneOf("0", "1");
    }
}

public sealed class OrphanTests
{
    [RuncFact]
    public async Task A_restarted_worker_removes_the_containers_a_killed_one_left_running()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "ferry-orphans-" + Guid.NewGuid().ToString("N")[..8]);
        var baseImage = new Ferry.Worker.Images.BaseImage(RuncFixture.ImagesDir, null);
        var before = new Ferry.Worker.Runtimes.Runc.RuncRuntime(dataDir, baseImage, _ => { });
        var spec = new Ferry.Worker.Runtimes.ContainerSpec("ct-orphan", ServerFixture.TestAppBuildDir, "Ferry.TestApp.dll",
            new Dictionary<string, string>(), new Ferry.Protocol.FunctionSettings(), [], Command: ["sh", "-c", "echo started; exec sleep 600"]);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handle = await before.StartAsync(spec, (_, _, text) =>
        {
            if (text == "started")
            {
                started.TrySetResult();
            }
        }, CancellationToken.None);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var namespaceBefore = NetworkNamespacesOf("ct-orphan");

        // A new runtime over the same data dir is what a restarted worker creates.
        var after = new Ferry.Worker.Runtimes.Runc.RuncRuntime(dataDir, baseImage, _ => { });
        var removed = await after.RemoveOrphansAsync(CancellationToken.None);
        var exit = await handle.Exited.WaitAsync(TimeSpan.FromSeconds(30));

        removed.Should().Be(1);
        exit.ExitCode.Should().Be(137, "the orphan was killed");
        Directory.Exists(Path.Combine(dataDir, "containers", "ct-orphan")).Should().BeFalse();
        namespaceBefore.Should().ContainSingle("the container ran in a network namespace of its own");
        NetworkNamespacesOf("ct-orphan").Should().BeEmpty();
        await after.DisposeAsync();
        await before.DisposeAsync();
        Directory.Delete(dataDir, recursive: true);
    }

    private static List<string> NetworkNamespacesOf(string containerId) =>
        Directory.Exists("/run/netns") ? [.. Directory.EnumerateFileSystemEntries("/run/netns").Where(n => n.EndsWith("-" + containerId, StringComparison.Ordinal))] : [];
}

public sealed class ImageBuilderTests
{
    [RuncFact]
    public async Task Two_apps_asking_for_the_same_image_at_once_build_it_once()
    {
        var dir = Path.Combine(Path.GetTempPath(), "ferry-builder-" + Guid.NewGuid().ToString("N")[..8]);
        await using var network = new Ferry.Worker.Runtimes.Runc.ContainerNetwork(dir);
        var builder = new Ferry.Worker.Images.ImageBuilder(dir, Path.Combine(dir, "state"), new Ferry.Worker.Images.BaseImage(RuncFixture.ImagesDir, null), network);
        var spec = new Ferry.Protocol.ImageSpec("debian-bookworm-minbase", [
            new(Ferry.Protocol.ImageStepKinds.RunCommands, ["echo shared > /shared.txt"]),
            new(Ferry.Protocol.ImageStepKinds.Env, ["SHARED=1"]),
        ]);
        Ferry.Worker.Images.ImageRequest For(string app) => new(app, ServerFixture.TestAppBuildDir, "Ferry.TestApp.dll", null!);

        var both = await Task.WhenAll(
            builder.EnsureAsync(spec, For("ap-one"), _ => { }, CancellationToken.None),
            builder.EnsureAsync(spec, For("ap-two"), _ => { }, CancellationToken.None));
        var again = await builder.EnsureAsync(spec, For("ap-three"), _ => { }, CancellationToken.None);

        builder.BuildsRun.Should().Be(2, "each of the two layers was built once");
        both.Sum(i => i.BuiltLayers).Should().Be(2, "one request ran the builds, the other waited for them");
        both[0].Id.Should().Be(both[1].Id);
        both[0].Lowers.Should().Equal(both[1].Lowers);
        again.BuiltLayers.Should().Be(0);
        File.ReadAllText(Path.Combine(both[0].Lowers[0], "shared.txt")).Should().Be("shared\n");
        await Ferry.Worker.Runtimes.Runc.Processes.RunAsync("rm", ["-rf", dir], CancellationToken.None);
    }
}
