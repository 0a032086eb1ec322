using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Ferry.Protocol;

namespace Ferry.Worker.Runtimes.Runc;

/// <summary>
/// Runs each container with runc: a generated OCI bundle whose root is an overlay of the base image with a writable
/// upper layer that is removed with the container, the build and the host's .NET bind-mounted read-only, its own PID,
/// mount, UTS and IPC namespaces, and cgroup limits from the function's Cpu and Memory plus a pids limit.
/// </summary>
/// <remarks>
/// Containers share the host's network namespace, so they reach the control plane on loopback; the control plane
/// authenticates each container by its token. runc runs in the foreground with <c>--keep</c>, so the exit code comes
/// straight back and the cgroup survives the exit long enough to read whether the kernel killed it for memory.
/// </remarks>
public sealed class RuncRuntime(string dataDir, BaseImage baseImage, Action<string> progress) : IContainerRuntime, ISessionRuntime
{
    private readonly ImageBuilder _images = new(Path.Combine(dataDir, "images"), Path.Combine(dataDir, "runc-state"), baseImage);

    private const string CgroupParent = "ferry";
    private const int PidsLimit = 1024;
    private readonly string _state = Path.Combine(dataDir, "runc-state");
    private readonly string _bundles = Path.Combine(dataDir, "containers");

    public string Name => "runc";

    /// <summary>
    /// Removes what a worker that was killed left behind in this data dir: containers still running under runc, their
    /// overlay mounts and bundles. Their control plane has already given their inputs to other containers.
    /// </summary>
    /// <returns>How many containers it removed.</returns>
    public async Task<int> RemoveOrphansAsync(CancellationToken cancellationToken)
    {
        var removed = 0;
        if (Directory.Exists(_state))
        {
            foreach (var dir in Directory.EnumerateDirectories(_state))
            {
                var id = Path.GetFileName(dir);
                await Processes.RunAsync("runc", ["--root", _state, "kill", id, "KILL"], cancellationToken).ConfigureAwait(false);
                await Processes.RunAsync("runc", ["--root", _state, "delete", "-f", id], cancellationToken).ConfigureAwait(false);
                removed++;
            }
        }
        if (Directory.Exists(_bundles))
        {
            foreach (var bundle in Directory.EnumerateDirectories(_bundles))
            {
                await CleanUpAsync(_state, Path.GetFileName(bundle), bundle).ConfigureAwait(false);
            }
        }
        return removed;
    }

    /// <summary>True when runc can work here: root, and runc and debootstrap on the PATH.</summary>
    public static bool IsAvailable(out string reason)
    {
        if (Environment.UserName != "root")
        {
            reason = "the worker does not run as root";
            return false;
        }
        foreach (var tool in new[] { "runc", "debootstrap" })
        {
            if (GpuInventory.FindOnPath(tool) is null)
            {
                reason = $"{tool} is not installed";
                return false;
            }
        }
        reason = "";
        return true;
    }

    public async Task<IContainerHandle> StartAsync(ContainerSpec spec, ContainerOutputHandler output, CancellationToken cancellationToken)
    {
        var bundle = await PrepareAsync(spec, message => output(spec.ContainerId, LogStreams.System, message), cancellationToken).ConfigureAwait(false);
        var process = new Process { StartInfo = RuncStart("run", "--keep", "--bundle", bundle, spec.ContainerId), EnableRaisingEvents = true };
        var handle = new RuncHandle(spec.ContainerId, process, bundle, _state, spec.Settings.MemoryMiB, output);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        handle.Watch();
        return handle;
    }

    public async Task<ISessionProcess> StartSessionAsync(ContainerSpec spec, Action<string> progress, CancellationToken cancellationToken)
    {
        var bundle = await PrepareAsync(spec, progress, cancellationToken).ConfigureAwait(false);
        var process = Process.Start(RuncStart("run", "--bundle", bundle, spec.ContainerId))!;
        return new RuncSession(process, async () =>
        {
            await Processes.RunAsync("runc", ["--root", _state, "kill", spec.ContainerId, "KILL"], CancellationToken.None).ConfigureAwait(false);
            await process.WaitForExitAsync().ConfigureAwait(false);
            await CleanUpAsync(_state, spec.ContainerId, bundle).ConfigureAwait(false);
        });
    }

    public Task<ISessionProcess> ExecAsync(string containerId, IReadOnlyList<string> command, CancellationToken cancellationToken)
    {
        var process = Process.Start(RuncStart(["exec", containerId, .. command]))!;
        return Task.FromResult<ISessionProcess>(new RuncSession(process, async () =>
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
            await process.WaitForExitAsync().ConfigureAwait(false);
        }));
    }

    private ProcessStartInfo RuncStart(params string[] args)
    {
        var info = new ProcessStartInfo("runc")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("--root");
        info.ArgumentList.Add(_state);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        return info;
    }

    /// <summary>Resolves the image (building what is missing) and writes the container's bundle; returns its path.</summary>
    private async Task<string> PrepareAsync(ContainerSpec spec, Action<string> report, CancellationToken cancellationToken)
    {
        // A container whose image must be built first waits for it; its app sees the build through its log.
        var clock = Stopwatch.StartNew();
        var image = await _images.EnsureAsync(
            spec.Settings.Image,
            new ImageRequest(spec.AppId, spec.BuildDir, spec.EntryAssembly, spec.Blobs ?? NoBlobs.Instance),
            message =>
            {
                if (!message.StartsWith(' '))
                {
                    progress(message);
                }
                report(message);
            },
            cancellationToken).ConfigureAwait(false);
        spec.ImageReady?.Invoke(image, clock.Elapsed);
        var bundle = Path.Combine(_bundles, spec.ContainerId);
        var rootfs = Path.Combine(bundle, "rootfs");
        Directory.CreateDirectory(Path.Combine(bundle, "upper"));
        Directory.CreateDirectory(Path.Combine(bundle, "work"));
        Directory.CreateDirectory(rootfs);
        Directory.CreateDirectory(_state);
        var (code, text) = await Processes.RunAsync("mount", ["-t", "overlay", "overlay", "-o",
            ImageBuilder.OverlayOptions(image.Lowers, Path.Combine(bundle, "upper"), Path.Combine(bundle, "work")), rootfs], cancellationToken).ConfigureAwait(false);
        if (code != 0)
        {
            throw new InvalidOperationException($"Mounting the container's root filesystem failed: {text.Trim()}");
        }
        await File.WriteAllTextAsync(Path.Combine(bundle, "hosts"), $"127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\t{spec.ContainerId}\n", cancellationToken).ConfigureAwait(false);
        await File.WriteAllTextAsync(Path.Combine(bundle, "config.json"), Config(spec, image).ToJsonString(), cancellationToken).ConfigureAwait(false);
        return bundle;
    }

    /// <summary>Deletes a container's runc state, unmounts its root and removes its bundle.</summary>
    private static async Task CleanUpAsync(string state, string containerId, string bundle)
    {
        await Processes.RunAsync("runc", ["--root", state, "delete", "-f", containerId], CancellationToken.None).ConfigureAwait(false);
        await Processes.RunAsync("umount", ["-l", Path.Combine(bundle, "rootfs")], CancellationToken.None).ConfigureAwait(false);
        try
        {
            Directory.Delete(bundle, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private sealed class RuncSession(Process process, Func<Task> end) : ISessionProcess
    {
        public Process Process => process;

        public async ValueTask DisposeAsync()
        {
            await end().ConfigureAwait(false);
            process.Dispose();
        }
    }

    /// <summary>The directory of the host's .NET, bind-mounted read-only into every container.</summary>
    internal static string DotnetDir() =>
        Path.GetDirectoryName(Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet"
            ? self
            : GpuInventory.FindOnPath("dotnet") is { } onPath ? new FileInfo(onPath).ResolveLinkTarget(true)?.FullName ?? onPath : "/usr/share/dotnet/dotnet")!;

    internal static JsonObject Config(ContainerSpec spec, ResolvedImage image, Func<string, (long Major, long Minor)?>? stat = null)
    {
        var dotnet = DotnetDir();
        var env = new JsonArray(
            $"PATH={dotnet}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME=/root", "LANG=C.UTF-8", "TMPDIR=/tmp", $"DOTNET_ROOT={dotnet}", "DOTNET_CLI_TELEMETRY_OPTOUT=1",
            "DOTNET_NOLOGO=1", "DOTNET_gcServer=0", "DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1");
        foreach (var pair in image.Environment)
        {
            env.Add(pair);
        }
        foreach (var (key, value) in spec.Environment)
        {
            env.Add($"{key}={value}");
        }
        if (spec.GpuIndices.Count > 0)
        {
            var devices = string.Join(',', spec.GpuIndices);
            env.Add($"CUDA_VISIBLE_DEVICES={devices}");
            env.Add($"NVIDIA_VISIBLE_DEVICES={devices}");
        }
        var resources = new JsonObject { ["pids"] = new JsonObject { ["limit"] = PidsLimit } };
        if (spec.Settings.MemoryMiB is { } memory)
        {
            var bytes = memory * 1024L * 1024L;
            resources["memory"] = new JsonObject { ["limit"] = bytes, ["swap"] = bytes };
        }
        if (spec.Settings.Cpu is { } cpu)
        {
            resources["cpu"] = new JsonObject { ["quota"] = (long)Math.Round(cpu * 100_000), ["period"] = 100_000 };
        }
        var devicesAllowed = new JsonArray(new JsonObject { ["allow"] = false, ["access"] = "rwm" });
        var mounts = new JsonArray(
            Mount("/proc", "proc", "proc"),
            Mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
            Mount("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"),
            Mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
            Mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
            Mount("/tmp", "tmpfs", "tmpfs", "nosuid", "nodev", "mode=1777", "size=256m"),
            Mount(dotnet, "bind", dotnet, "rbind", "ro", "nosuid", "nodev"),
            Mount("/app", "bind", spec.BuildDir, "rbind", "ro", "nosuid", "nodev"),
            Mount("/etc/resolv.conf", "bind", "/etc/resolv.conf", "bind", "ro"),
            Mount("/etc/hosts", "bind", "hosts", "bind", "ro"));
        foreach (var mount in image.Mounts)
        {
            mounts.Add(Mount(mount.Destination, "bind", mount.Source, "rbind", "ro", "nosuid", "nodev"));
        }
        foreach (var node in GpuDevices.For(spec.GpuIndices, stat ?? GpuDevices.Stat))
        {
            mounts.Add(Mount(node.Path, "bind", node.Path, "bind"));
            devicesAllowed.Add(new JsonObject { ["allow"] = true, ["type"] = "c", ["major"] = node.Major, ["minor"] = node.Minor, ["access"] = "rwm" });
        }
        resources["devices"] = devicesAllowed;
        string[] caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
        return new JsonObject
        {
            ["ociVersion"] = "1.0.2",
            ["process"] = new JsonObject
            {
                ["terminal"] = false,
                ["user"] = new JsonObject { ["uid"] = 0, ["gid"] = 0 },
                ["args"] = spec.Command is { } command ? Strings(command) : new JsonArray("dotnet", "/app/" + spec.EntryAssembly),
                ["env"] = env,
                ["cwd"] = image.Workdir ?? "/app",
                ["capabilities"] = new JsonObject
                {
                    ["bounding"] = Strings(caps),
                    ["effective"] = Strings(caps),
                    ["permitted"] = Strings(caps),
                    ["ambient"] = Strings(caps),
                },
                ["rlimits"] = new JsonArray(new JsonObject { ["type"] = "RLIMIT_NOFILE", ["hard"] = 4096, ["soft"] = 4096 }),
                ["noNewPrivileges"] = true,
            },
            ["root"] = new JsonObject { ["path"] = "rootfs", ["readonly"] = false },
            ["hostname"] = spec.ContainerId,
            ["mounts"] = mounts,
            ["linux"] = new JsonObject
            {
                ["cgroupsPath"] = $"/{CgroupParent}/{spec.ContainerId}",
                ["resources"] = resources,
                // No network namespace: the container shares the host's, to reach the control plane on loopback.
                ["namespaces"] = new JsonArray(
                    new JsonObject { ["type"] = "pid" },
                    new JsonObject { ["type"] = "ipc" },
                    new JsonObject { ["type"] = "uts" },
                    new JsonObject { ["type"] = "mount" }),
                ["maskedPaths"] = Strings(["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"]),
                ["readonlyPaths"] = Strings(["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]),
            },
        };
    }

    internal static JsonArray Strings(IEnumerable<string> values) => new([.. values.Select(v => (JsonNode)v)]);

    internal static JsonObject Mount(string destination, string type, string source, params string[] options)
    {
        var mount = new JsonObject { ["destination"] = destination, ["type"] = type, ["source"] = source };
        if (options.Length > 0)
        {
            mount["options"] = Strings(options);
        }
        return mount;
    }

    private sealed class NoBlobs : IBlobSource
    {
        public static readonly NoBlobs Instance = new();

        public Task DownloadAsync(string hash, string target, CancellationToken cancellationToken) =>
            throw new ImageBuildException("This container has no control plane to fetch the image's files from.");
    }

    /// <summary>Reads whether the kernel's OOM killer fired in a container's memory cgroup.</summary>
    internal static bool WasOomKilled(string containerId)
    {
        var path = $"/sys/fs/cgroup/memory/{CgroupParent}/{containerId}/memory.oom_control";
        if (!File.Exists(path))
        {
            return false;
        }
        var line = File.ReadLines(path).FirstOrDefault(l => l.StartsWith("oom_kill ", StringComparison.Ordinal));
        return line is not null && long.Parse(line["oom_kill ".Length..], CultureInfo.InvariantCulture) > 0;
    }

    private sealed class RuncHandle(string containerId, Process process, string bundle, string state, int? memoryMiB, ContainerOutputHandler output)
        : ProcessContainerHandle(containerId, process, output)
    {
        protected override async Task<ContainerExit> DescribeExitAsync(int exitCode, string? stderrTail)
        {
            // Read before the cgroup goes with the container.
            var oom = WasOomKilled(ContainerId);
            await CleanUpAsync(state, ContainerId, bundle).ConfigureAwait(false);
            return oom
                ? new ContainerExit(exitCode, ErrorKinds.OutOfMemory, $"killed for exceeding its memory limit of {memoryMiB} MiB")
                : StopRequested
                    ? new ContainerExit(exitCode, "stopped", null)
                    : new ContainerExit(exitCode, ErrorKinds.Crash, $"exit code {exitCode}" + (stderrTail is null ? "" : Environment.NewLine + stderrTail));
        }

        protected override Task SignalAsync(bool kill) =>
            Processes.RunAsync("runc", ["--root", state, "kill", ContainerId, kill ? "KILL" : "TERM"], CancellationToken.None);
    }
}
