using FluentAssertions;
using Ferry.Worker.Images;
using Ferry.Worker.Runtimes;
using Ferry.Worker.Runtimes.Runc;

namespace Ferry.Tests;

public sealed class RuntimeCapabilitiesTests
{
    [Fact]
    public async Task Capabilities_ProcessRuntime_DeclaresNone()
    {
        await using IContainerRuntime runtime = new ProcessRuntime();

        runtime.Capabilities.Should().Be(new RuntimeCapabilities(Isolation: false, Images: false, ResourceLimits: false, Gpus: false, Checkpoint: false, Sessions: false));
        (runtime is ISessionRuntime).Should().BeFalse();
    }

    [Fact]
    public async Task Capabilities_RuncRuntime_DeclaresAllButCheckpoint()
    {
        var dataDir = Directory.CreateTempSubdirectory("ferry-caps-").FullName;
        try
        {
            await using var runtime = new RuncRuntime(dataDir, new BaseImage(Path.Combine(dataDir, "images"), null), _ => { });

            runtime.Capabilities.Should().Be(new RuntimeCapabilities(Isolation: true, Images: true, ResourceLimits: true, Gpus: true, Checkpoint: false, Sessions: true));
            ((IContainerRuntime)runtime is ISessionRuntime).Should().BeTrue("a runtime that declares sessions implements them");
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public void Checkpoint_SnapshotProbeThatPasses_StillReportsUnavailable()
    {
        SnapshotSupport.FromCheck((0, "Looks good.")).Available.Should().BeFalse("runc declares no checkpoint capability until restoring is built");
    }
}
