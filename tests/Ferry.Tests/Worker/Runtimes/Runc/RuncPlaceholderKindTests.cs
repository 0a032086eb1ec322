using FluentAssertions;
using Ferry.Protocol;
using Ferry.Worker.Images;
using Ferry.Worker.Runtimes;
using Ferry.Worker.Runtimes.Runc;
using Ferry.Worker.Volumes;

namespace Ferry.Tests;

/// <summary>Which runc cold starts a placeholder can serve, and which placeholders are interchangeable.</summary>
public sealed class RuncPlaceholderKindTests : IDisposable
{
    private static readonly ResolvedImage Base = new("im-base", ["/images/base"], [], null, [], 0, 0);
    private readonly string _build = Path.Combine(Path.GetTempPath(), "ferry-kind-" + Guid.NewGuid().ToString("N")[..8]);

    public RuncPlaceholderKindTests()
    {
        Directory.CreateDirectory(_build);
        File.WriteAllText(Path.Combine(_build, "App.runtimeconfig.json"),
            """{"runtimeOptions":{"tfm":"net10.0","framework":{"name":"Microsoft.NETCore.App","version":"10.0.0"}}}""");
    }

    public void Dispose() => Directory.Delete(_build, recursive: true);

    private ContainerSpec Spec(FunctionSettings? settings = null, Dictionary<string, string>? environment = null, IReadOnlyList<int>? gpus = null,
        IReadOnlyList<PreparedVolume>? volumes = null, IReadOnlyList<string>? command = null) =>
        new("ct-1", _build, "App.dll", environment ?? new Dictionary<string, string> { ["DOTNET_TieredPGO"] = "0", ["A"] = "b" },
            settings ?? new FunctionSettings(), gpus ?? [], Command: command, Volumes: volumes);

    [Fact]
    public void PlaceholderKindOf_PlainFunction_IsTheBaseKindWhateverItsMemory()
    {
        var plain = RuncRuntime.PlaceholderKindOf(Spec(), Base);
        var withMemory = RuncRuntime.PlaceholderKindOf(Spec(new FunctionSettings { MemoryMiB = 512 }), Base);

        plain.Should().NotBeNull();
        withMemory.Should().Be(plain, "a memory limit is applied when the placeholder is specialised");
    }

    [Fact]
    public void PlaceholderKindOf_WhatOnlyCreationCanGive_IsNone()
    {
        RuncRuntime.PlaceholderKindOf(Spec(gpus: [0]), Base).Should().BeNull("GPU devices are bound when a container is created");
        RuncRuntime.PlaceholderKindOf(Spec(volumes: [new PreparedVolume(new VolumeMount("/data", "v"), "/host/v", "/host/v.state")]), Base)
            .Should().BeNull("volumes are mounted when a container is created");
        RuncRuntime.PlaceholderKindOf(Spec(command: ["/bin/sh"]), Base).Should().BeNull("a session runs its own command");
        RuncRuntime.PlaceholderKindOf(Spec(environment: new Dictionary<string, string> { ["DOTNET_gcServer"] = "1" }), Base)
            .Should().BeNull("a runtime setting other than the placeholder's acts only at start");
        RuncRuntime.PlaceholderKindOf(Spec(), Base with { Environment = ["DOTNET_TieredCompilation=0"] })
            .Should().BeNull("the image's runtime settings too");
        RuncRuntime.PlaceholderKindOf(Spec() with { EntryAssembly = "Missing.dll" }, Base).Should().BeNull("without runtime settings no kind fits");
    }

    [Fact]
    public void PlaceholderKindOf_ImageLayersAndProcessorCount_MakeOtherKinds()
    {
        var plain = RuncRuntime.PlaceholderKindOf(Spec(), Base);
        var layered = RuncRuntime.PlaceholderKindOf(Spec(), Base with { Lowers = ["/images/l1", "/images/base"], Layers = 1 });
        var imageVariables = RuncRuntime.PlaceholderKindOf(Spec(), Base with { Environment = ["MODEL=/models"], Workdir = "/srv" });
        var halfCpu = RuncRuntime.PlaceholderKindOf(Spec(new FunctionSettings { Cpu = 0.5 }), Base);
        var allCpus = RuncRuntime.PlaceholderKindOf(Spec(new FunctionSettings { Cpu = Environment.ProcessorCount }), Base);

        layered.Should().NotBe(plain, "a placeholder's root is its image's layers");
        imageVariables.Should().Be(plain, "an image's variables and working directory come with the specialisation");
        allCpus.Should().Be(plain, ".NET counts every processor in both");
        if (Environment.ProcessorCount > 1)
        {
            halfCpu.Should().NotBe(plain, ".NET reads one processor from half a CPU's quota when it starts");
        }
    }

    [Fact]
    public void PlaceholderKindOf_ProgramTheDefaultCanRun_IsHostedByTheDefaultKindOnTheSameImageAndProcessors()
    {
        // The default settings have one more shared framework than the program uses.
        var defaults = Ferry.Worker.Runtimes.Placeholders.PlaceholderFiles.RuntimeOptionsKey(
            """{"runtimeOptions":{"tfm":"net10.0","frameworks":[{"name":"Microsoft.NETCore.App","version":"10.0.0"},{"name":"Microsoft.AspNetCore.App","version":"10.0.0"}]}}""")!;
        var layered = Base with { Lowers = ["/images/l1", "/images/base"], Layers = 1 };

        var plain = RuncRuntime.PlaceholderKindOf(Spec(), Base, defaults)!;
        var onLayers = RuncRuntime.PlaceholderKindOf(Spec(), layered, defaults)!;
        var halfCpu = RuncRuntime.PlaceholderKindOf(Spec(new FunctionSettings { Cpu = 0.5 }), Base, defaults)!;

        plain.Host.Should().NotBeNull();
        plain.Host!.RuntimeKey.Should().Be(defaults);
        plain.Host.Should().NotBe(plain);
        onLayers.Host.Should().NotBe(plain.Host, "a host has the program's image");
        onLayers.Host!.Key.Should().Contain("/images/l1");
        if (Environment.ProcessorCount > 1)
        {
            halfCpu.Host.Should().NotBe(plain.Host, "a host has the processor count the program's quota gives .NET");
        }
        RuncRuntime.PlaceholderKindOf(Spec(), Base, plain.RuntimeKey)!.Host.Should().BeNull("a program of the default settings is of the default kind");
        RuncRuntime.PlaceholderKindOf(Spec(), Base, defaults.Replace("10.0.0", "10.0.1", StringComparison.Ordinal))!.Host
            .Should().BeNull("settings with other framework versions cannot run the program");
    }

    [Fact]
    public void LimitFiles_WhereTheCgroupFilesExist_WritesSharesMemoryBeforeSwapAndPeriodBeforeQuota()
    {
        var root = Path.Combine(_build, "cgroup");
        foreach (var (controller, name) in new[] { ("cpu", "cpu.shares"), ("cpu", "cpu.cfs_period_us"), ("cpu", "cpu.cfs_quota_us"),
            ("memory", "memory.limit_in_bytes"), ("memory", "memory.memsw.limit_in_bytes") })
        {
            Directory.CreateDirectory(Path.Combine(root, controller, "ferry", "ph-1"));
            File.WriteAllText(Path.Combine(root, controller, "ferry", "ph-1", name), "");
        }
        string At(string controller, string name) => Path.Combine(root, controller, "ferry", "ph-1", name);

        var limited = RuncRuntime.LimitFiles("ph-1", new FunctionSettings { MemoryMiB = 256, Cpu = 0.5 }, root);
        var plain = RuncRuntime.LimitFiles("ph-1", new FunctionSettings(), root);
        File.Delete(At("memory", "memory.memsw.limit_in_bytes"));
        var noSwapAccounting = RuncRuntime.LimitFiles("ph-1", new FunctionSettings { MemoryMiB = 256 }, root);

        limited.Should().Equal(
            (At("cpu", "cpu.shares"), "1024"),
            (At("memory", "memory.limit_in_bytes"), "268435456"),
            (At("memory", "memory.memsw.limit_in_bytes"), "268435456"),
            (At("cpu", "cpu.cfs_period_us"), "100000"),
            (At("cpu", "cpu.cfs_quota_us"), "50000"));
        plain.Should().Equal((At("cpu", "cpu.shares"), "1024"));
        noSwapAccounting.Should().BeNull("without every file, runc update applies the limits");
    }
}
