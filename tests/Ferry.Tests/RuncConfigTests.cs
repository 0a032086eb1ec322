using System.Text.Json.Nodes;
using FluentAssertions;
using Ferry.Protocol;
using Ferry.Worker.Runtimes;
using Ferry.Worker.Runtimes.Runc;

namespace Ferry.Tests;

public sealed class RuncConfigTests
{
    private static readonly ResolvedImage Plain = new("im-base", ["/images/base"], [], null, [], 0, 0);

    private static ContainerSpec Spec(FunctionSettings settings, IReadOnlyList<int>? gpus = null, IReadOnlyList<string>? command = null) =>
        new("ct-1", "/builds/b1", "App.dll", new Dictionary<string, string> { [FerryEnv.ContainerId] = "ct-1" }, settings, gpus ?? [], Command: command);

    private static long Num(JsonNode? node) => long.Parse(node!.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture);

    private static IEnumerable<string> Strings(JsonNode? array) => array!.AsArray().Select(n => n!.GetValue<string>());

    [Fact]
    public void Cpu_memory_and_pids_become_cgroup_limits()
    {
        var config = RuncRuntime.Config(Spec(new FunctionSettings { Cpu = 0.5, MemoryMiB = 256 }), Plain, null);
        var resources = config["linux"]!["resources"]!;

        Num(resources["cpu"]!["quota"]).Should().Be(50_000);
        Num(resources["cpu"]!["period"]).Should().Be(100_000);
        Num(resources["memory"]!["limit"]).Should().Be(256L * 1024 * 1024);
        Num(resources["memory"]!["swap"]).Should().Be(256L * 1024 * 1024, "memory plus swap equal to the limit means no swap");
        resources["pids"]!["limit"]!.GetValue<int>().Should().Be(1024);
        config["linux"]!["cgroupsPath"]!.GetValue<string>().Should().Be("/ferry/ct-1");
    }

    [Fact]
    public void The_container_gets_its_own_pid_mount_uts_and_ipc_namespaces_and_the_hosts_network()
    {
        var config = RuncRuntime.Config(Spec(new FunctionSettings()), Plain, null);

        config["linux"]!["namespaces"]!.AsArray().Select(n => n!["type"]!.GetValue<string>()).Should().BeEquivalentTo("pid", "ipc", "uts", "mount");
        config["process"]!["noNewPrivileges"]!.GetValue<bool>().Should().BeTrue();
    }

    [Fact]
    public void The_build_is_mounted_read_only_and_run_unless_a_command_replaces_it()
    {
        var function = RuncRuntime.Config(Spec(new FunctionSettings()), Plain, null);
        var shell = RuncRuntime.Config(Spec(new FunctionSettings(), command: ["/bin/bash"]), Plain, null);
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

        var config = RuncRuntime.Config(Spec(new FunctionSettings()), image, null);

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

        var config = RuncRuntime.Config(Spec(new FunctionSettings(), gpus: [1]), Plain, null, path => host.TryGetValue(path, out var n) ? n : null);

        Strings(config["process"]!["env"]).Should().Contain(["CUDA_VISIBLE_DEVICES=1", "NVIDIA_VISIBLE_DEVICES=1"]);
        config["mounts"]!.AsArray().Select(m => m!["destination"]!.GetValue<string>()).Where(d => d.StartsWith("/dev/nvidia", StringComparison.Ordinal))
            .Should().Equal("/dev/nvidia1", "/dev/nvidiactl");
        config["linux"]!["resources"]!["devices"]!.AsArray().Where(d => d!["allow"]!.GetValue<bool>()).Select(d => Num(d!["minor"]))
            .Should().Equal(1, 255);
    }

    [Fact]
    public void A_configured_gpu_without_a_device_node_still_starts_with_just_the_environment()
    {
        var config = RuncRuntime.Config(Spec(new FunctionSettings(), gpus: [0]), Plain, null, _ => null);

        config["mounts"]!.AsArray().Should().NotContain(m => m!["destination"]!.GetValue<string>().StartsWith("/dev/nvidia", StringComparison.Ordinal));
        Strings(config["process"]!["env"]).Should().Contain("CUDA_VISIBLE_DEVICES=0");
    }

    [Fact]
    public void Overlay_options_refuse_more_layers_than_a_mount_can_take()
    {
        var many = Enumerable.Range(0, 80).Select(i => $"/var/lib/ferry/images/layers/{i:x32}/fs").ToList();

        var act = () => ImageBuilder.OverlayOptions(many, "/u", "/w");

        act.Should().Throw<Ferry.Worker.Runtimes.Runc.ImageBuildException>().WithMessage("The image has 79 layers, more than an overlay mount can stack here.*");
        ImageBuilder.OverlayOptions(["/a", "/b"], "/u", "/w").Should().Be("lowerdir=/a:/b,upperdir=/u,workdir=/w");
    }
}
