using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using FluentAssertions;
using Ferry.Protocol;
using Ferry.Worker.Images;
using Ferry.Worker.Runtimes;
using Ferry.Worker.Runtimes.Runc;

namespace Ferry.Tests;

public sealed class RuncConfigTests
{
    private static readonly ResolvedImage Plain = new("im-base", ["/images/base"], [], null, [], 0, 0);

    private static readonly NetworkAttachment Net = new("fy2a-ct-1", "fy2av002", System.Net.IPAddress.Parse("10.213.42.2"), "/etc/resolv.conf");

    private static ContainerSpec Spec(FunctionSettings settings, IReadOnlyList<int>? gpus = null, IReadOnlyList<string>? command = null) =>
        new("ct-1", "/builds/b1", "App.dll", new Dictionary<string, string> { [FerryEnv.ContainerId] = "ct-1" }, settings, gpus ?? [], Command: command);

    private static long Num(JsonNode? node) => long.Parse(node!.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture);

    private static IEnumerable<string> Strings(JsonNode? array) => array!.AsArray().Select(n => n!.GetValue<string>());

    [Fact]
    public void Cpu_memory_and_pids_become_cgroup_limits()
    {
        var config = RuncRuntime.Config(Spec(new FunctionSettings { Cpu = 0.5, MemoryMiB = 256 }), Plain, Net);
        var resources = config["linux"]!["resources"]!;

        Num(resources["cpu"]!["quota"]).Should().Be(50_000);
        Num(resources["cpu"]!["period"]).Should().Be(100_000);
        Num(resources["memory"]!["limit"]).Should().Be(256L * 1024 * 1024);
        Num(resources["memory"]!["swap"]).Should().Be(256L * 1024 * 1024, "memory plus swap equal to the limit means no swap");
        resources["pids"]!["limit"]!.GetValue<int>().Should().Be(1024);
        config["linux"]!["cgroupsPath"]!.GetValue<string>().Should().Be("/ferry/ct-1");
    }

    [Fact]
    public void The_container_gets_its_own_namespaces_and_joins_the_network_namespace_the_worker_made()
    {
        var config = RuncRuntime.Config(Spec(new FunctionSettings()), Plain, Net);
        var namespaces = config["linux"]!["namespaces"]!.AsArray();

        namespaces.Select(n => n!["type"]!.GetValue<string>()).Should().BeEquivalentTo("pid", "ipc", "uts", "mount", "network");
        namespaces.Single(n => n!["type"]!.GetValue<string>() == "network")!["path"]!.GetValue<string>().Should().Be("/run/netns/fy2a-ct-1");
        config["process"]!["noNewPrivileges"]!.GetValue<bool>().Should().BeTrue();
        Strings(config["process"]!["capabilities"]!["bounding"]).Should().BeEquivalentTo("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE");
    }

    [Fact]
    public void Without_network_isolation_the_container_shares_the_hosts_network_and_resolver()
    {
        var config = RuncRuntime.Config(Spec(new FunctionSettings()), Plain, null);

        config["linux"]!["namespaces"]!.AsArray().Select(n => n!["type"]!.GetValue<string>()).Should().BeEquivalentTo("pid", "ipc", "uts", "mount");
        Mount(config, "/etc/resolv.conf")["source"]!.GetValue<string>().Should().Be("/etc/resolv.conf");
    }

    [Fact]
    public void The_resolver_configuration_comes_from_the_network()
    {
        var config = RuncRuntime.Config(Spec(new FunctionSettings()), Plain, Net with { ResolvConf = "/var/lib/ferry/resolv.conf" });

        var resolv = Mount(config, "/etc/resolv.conf");
        resolv["source"]!.GetValue<string>().Should().Be("/var/lib/ferry/resolv.conf");
        Strings(resolv["options"]).Should().Contain("ro");
    }

    [Fact]
    public void Seccomp_allows_by_default_and_refuses_mounts_namespaces_ptrace_and_kernel_modules()
    {
        var seccomp = RuncRuntime.Config(Spec(new FunctionSettings()), Plain, Net)["linux"]!["seccomp"]!;
        var rules = seccomp["syscalls"]!.AsArray();
        var blocked = rules.Where(r => r!["args"] is null && Num(r["errnoRet"]) == 1).SelectMany(r => Strings(r!["names"])).ToList();

        seccomp["defaultAction"]!.GetValue<string>().Should().Be("SCMP_ACT_ALLOW");
        Strings(seccomp["architectures"]).Should().NotBeEmpty();
        blocked.Should().Contain(["mount", "umount2", "unshare", "setns", "ptrace", "init_module", "kexec_load", "bpf", "keyctl", "userfaultfd", "open_by_handle_at", "fsopen"]);
        blocked.Should().NotContain(["clone", "execve", "socket", "connect", "personality"]);
        rules.Should().ContainSingle(r => Strings(r!["names"]).SequenceEqual(new[] { "clone3" })).Which!["errnoRet"]!.GetValue<int>().Should().Be(38, "ENOSYS makes glibc fall back to clone");
        rules.Where(r => Strings(r!["names"]).SequenceEqual(new[] { "clone" })).Select(r => Num(r!["args"]![0]!["value"]))
            .Should().BeEquivalentTo(new long[] { 0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000 }, "clone may not make any kind of namespace");
    }

    [Fact]
    public void Proc_and_sys_paths_are_masked_and_read_only_as_in_runcs_defaults_and_more()
    {
        var linux = RuncRuntime.Config(Spec(new FunctionSettings()), Plain, Net)["linux"]!;

        Strings(linux["maskedPaths"]).Should().Contain([
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
            "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/proc/interrupts", "/sys/devices/virtual/powercap"]);
        Strings(linux["readonlyPaths"]).Should().BeEquivalentTo("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger");
    }

    [Fact]
    public void A_build_container_has_the_same_seccomp_masks_and_network_namespace_and_no_raw_sockets()
    {
        var step = new ImageStep(ImageStepKinds.AptInstall, ["jq"]);
        var context = new StepContext(step, "l1", 1, 1, ["/images/base"], [], null, false,
            new ImageRequest("ap-1", "/builds/b1", "App.dll", null!), _ => { });

        var config = BuildContainer.Config(context, "build-1", Net);
        var linux = config["linux"]!;

        linux["namespaces"]!.AsArray().Single(n => n!["type"]!.GetValue<string>() == "network")!["path"]!.GetValue<string>().Should().Be("/run/netns/fy2a-ct-1");
        linux["seccomp"]!.ToJsonString().Should().Be(Hardening.Seccomp().ToJsonString());
        Strings(linux["maskedPaths"]).Should().Equal(Hardening.MaskedPaths);
        Strings(linux["readonlyPaths"]).Should().Equal(Hardening.ReadonlyPaths);
        Strings(config["process"]!["capabilities"]!["bounding"]).Should().Contain(["CAP_CHOWN", "CAP_SETUID", "CAP_SETGID"]).And.NotContain(["CAP_NET_RAW", "CAP_SETPCAP", "CAP_SYS_ADMIN"]);
        config["process"]!["noNewPrivileges"]!.GetValue<bool>().Should().BeTrue();
        linux["resources"]!["devices"]!.AsArray().Should().ContainSingle().Which!["allow"]!.GetValue<bool>().Should().BeFalse();
    }

    [Fact]
    public void The_worker_table_admits_containers_only_to_the_relay_and_keeps_them_apart()
    {
        var rules = ContainerNetwork.Ruleset(42, "fy2abr", "ferry_2a", System.Net.IPAddress.Parse("10.213.42.1"));

        rules.Should().StartWith("table inet ferry_2a\ndelete table inet ferry_2a\n", "the table is replaced whole in one transaction");
        rules.Should().Contain("iifname \"fy2abr\" ip daddr 10.213.42.1 tcp dport @relay_ports accept")
            .And.Contain("iifname \"fy2abr\" ip daddr { 127.0.0.0/8, 10.213.0.0/16 } reject with icmpx admin-prohibited")
            .And.Contain("iifname \"fy2abr\" oifname \"fy*\" reject with icmpx admin-prohibited")
            .And.Contain("oifname \"fy2abr\" drop")
            .And.Contain("ip saddr 10.213.42.0/24 oifname != \"fy2abr\" masquerade");
        rules.IndexOf("tcp dport @relay_ports accept", StringComparison.Ordinal).Should().BeLessThan(rules.IndexOf("10.213.0.0/16 } reject", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("nameserver 10.255.255.53\n", null)]
    [InlineData("nameserver 127.0.0.53\noptions edns0\n", "options edns0\n")]
    [InlineData("nameserver ::1\nnameserver 192.0.2.53\n", "nameserver 192.0.2.53\n")]
    public void A_loopback_resolver_is_left_out_of_the_containers_resolver_configuration(string host, string? expected)
    {
        ContainerNetwork.ContainerResolvConf(host).Should().Be(expected);
    }

    private static JsonNode Mount(JsonObject config, string destination) =>
        config["mounts"]!.AsArray().Single(m => m!["destination"]!.GetValue<string>() == destination)!;

    [Fact]
    public void The_build_is_mounted_read_only_and_run_unless_a_command_replaces_it()
    {
        var function = RuncRuntime.Config(Spec(new FunctionSettings()), Plain, Net);
        var shell = RuncRuntime.Config(Spec(new FunctionSettings(), command: ["/bin/bash"]), Plain, Net);
        var app = function["mounts"]!.AsArray().Single(m => m!["destination"]!.GetValue<string>() == "/app")!;

        Strings(function["process"]!["args"]).Should().Equal("dotnet", "/app/App.dll");
        Strings(shell["process"]!["args"]).Should().Equal("/bin/bash");
        app["source"]!.GetValue<string>().Should().Be("/builds/b1");
        Strings(app["options"]).Should().Contain("ro");
    }

    [Fact]
    public void The_images_environment_workdir_and_mounts_apply()
    {
        var image = new ResolvedImage("im-x", ["/l/2", "/l/1", "/images/base"], ["MODEL=/models"], "/srv", [new ImageMount("/mounts/m1", "/data")], 2, 0);

        var config = RuncRuntime.Config(Spec(new FunctionSettings()), image, Net);

        Strings(config["process"]!["env"]).Should().Contain(["MODEL=/models", "FERRY_CONTAINER_ID=ct-1"]);
        config["process"]!["cwd"]!.GetValue<string>().Should().Be("/srv");
        var data = config["mounts"]!.AsArray().Single(m => m!["destination"]!.GetValue<string>() == "/data")!;
        data["source"]!.GetValue<string>().Should().Be("/mounts/m1");
        Strings(data["options"]).Should().Contain("ro");
    }

    [Fact]
    public void Reserved_gpus_expose_only_their_nodes_that_exist_and_name_them_in_the_environment()
    {
        var host = new Dictionary<string, (long, long)> { ["/dev/nvidia0"] = (195, 0), ["/dev/nvidia1"] = (195, 1), ["/dev/nvidiactl"] = (195, 255) };

        var config = RuncRuntime.Config(Spec(new FunctionSettings(), gpus: [1]), Plain, Net, path => host.TryGetValue(path, out var n) ? n : null);

        Strings(config["process"]!["env"]).Should().Contain(["CUDA_VISIBLE_DEVICES=1", "NVIDIA_VISIBLE_DEVICES=1"]);
        config["mounts"]!.AsArray().Select(m => m!["destination"]!.GetValue<string>()).Where(d => d.StartsWith("/dev/nvidia", StringComparison.Ordinal))
            .Should().Equal("/dev/nvidia1", "/dev/nvidiactl");
        config["linux"]!["resources"]!["devices"]!.AsArray().Where(d => d!["allow"]!.GetValue<bool>()).Select(d => Num(d!["minor"]))
            .Should().Equal(1, 255);
    }

    [Fact]
    public void A_configured_gpu_without_a_device_node_still_starts_with_just_the_environment()
    {
        var config = RuncRuntime.Config(Spec(new FunctionSettings(), gpus: [0]), Plain, Net, _ => null);

        config["mounts"]!.AsArray().Should().NotContain(m => m!["destination"]!.GetValue<string>().StartsWith("/dev/nvidia", StringComparison.Ordinal));
        Strings(config["process"]!["env"]).Should().Contain("CUDA_VISIBLE_DEVICES=0");
    }

    [Fact]
    public void Device_numbers_come_from_the_node_and_only_character_devices_have_them()
    {
        GpuDevices.Stat("/dev/null").Should().Be((1L, 3L));
        GpuDevices.Stat("/dev/zero").Should().Be((1L, 5L));
        GpuDevices.Stat("/etc/hostname").Should().BeNull();
        GpuDevices.Stat("/dev/no-such-node").Should().BeNull();
    }

    [Fact]
    public void Overlay_options_refuse_more_layers_than_a_mount_can_take()
    {
        var many = Enumerable.Range(0, 80).Select(i => $"/var/lib/ferry/images/layers/{i:x32}/fs").ToList();

        var act = () => OverlayMount.Options(many, "/u", "/w");

        act.Should().Throw<Ferry.Worker.Images.ImageBuildException>().WithMessage("The image has 79 layers, more than an overlay mount can stack here.*");
        OverlayMount.Options(["/a", "/b"], "/u", "/w").Should().Be("lowerdir=/a:/b,upperdir=/u,workdir=/w");
    }

    // The whole OCI config of representative function and build containers, pinned in RuncConfigs/ so that a change to
    // how configs are put together shows up as a diff there. The host's .NET directory is written as $DOTNET;
    // FERRY_PIN_CONFIGS=1 rewrites the files from the current code.
    private static readonly NetworkAttachment PinnedNet = new("fy2a-ct-1", "fy2av002", System.Net.IPAddress.Parse("10.213.42.2"), "/var/lib/ferry/resolv.conf");

    private static readonly Dictionary<string, (long, long)> HostGpus = new() { ["/dev/nvidia0"] = (195, 0), ["/dev/nvidia1"] = (195, 1), ["/dev/nvidiactl"] = (195, 255) };

    private static ContainerSpec PinnedSpec(FunctionSettings settings, IReadOnlyList<int> gpus, IReadOnlyList<string>? command = null) =>
        new("ct-1", "/builds/b1", "App.dll", new Dictionary<string, string> { [FerryEnv.ContainerId] = "ct-1", ["A"] = "b" }, settings, gpus, Command: command);

    private static StepContext PinnedStep(ImageStep step, string? workdir) =>
        new(step, "l1", 1, 1, ["/images/base"], ["MODEL=/models"], workdir, false, new ImageRequest("ap-1", "/builds/b1", "App.dll", null!), _ => { });

    [Fact]
    public void Config_FunctionWithLimitsImageAndGpu_MatchesPinnedJson()
    {
        var image = new ResolvedImage("im-x", ["/l/2", "/l/1", "/images/base"], ["MODEL=/models"], "/srv", [new ImageMount("/mounts/m1", "/data")], 2, 0);

        var config = RuncRuntime.Config(PinnedSpec(new FunctionSettings { Cpu = 1.5, MemoryMiB = 512 }, [1]), image, PinnedNet, path => HostGpus.TryGetValue(path, out var n) ? n : null);

        AssertPinned(config, "function-full.json");
    }

    [Fact]
    public void Config_SessionWithoutNetworkIsolation_MatchesPinnedJson()
    {
        var image = new ResolvedImage("im-base", ["/images/base"], [], null, [], 0, 0);

        var config = RuncRuntime.Config(PinnedSpec(new FunctionSettings(), [], ["/bin/bash", "-l"]), image, null, _ => null);

        AssertPinned(config, "function-session.json");
    }

    [Fact]
    public void BuildConfig_AptStep_MatchesPinnedJson()
    {
        var config = BuildContainer.Config(PinnedStep(new ImageStep(ImageStepKinds.AptInstall, ["jq", "curl"]), null), "build-1", PinnedNet);

        AssertPinned(config, "build-apt.json");
    }

    [Fact]
    public void BuildConfig_RunFunctionStepWithoutNetworkIsolation_MatchesPinnedJson()
    {
        var config = BuildContainer.Config(PinnedStep(new ImageStep(ImageStepKinds.RunFunction, ["Download"]), "/srv"), "build-2", null);

        AssertPinned(config, "build-function.json");
    }

    private static void AssertPinned(JsonObject config, string file, [CallerFilePath] string source = "")
    {
        var actual = config.ToJsonString(new JsonSerializerOptions { WriteIndented = true })
            .Replace(RuncRuntime.DotnetDir(), "$DOTNET", StringComparison.Ordinal).ReplaceLineEndings("\n");
        var path = Path.Combine(Path.GetDirectoryName(source)!, "RuncConfigs", file);
        if (Environment.GetEnvironmentVariable("FERRY_PIN_CONFIGS") == "1")
        {
            File.WriteAllText(path, actual + "\n");
        }
        actual.Should().Be(File.ReadAllText(path).ReplaceLineEndings("\n").TrimEnd('\n'));
    }
}
