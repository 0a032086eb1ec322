using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Ferry.Protocol;
using Ferry.Worker.Images;
using Ferry.Worker.Runtimes.Placeholders;
using Microsoft.Extensions.Logging;

namespace Ferry.Worker.Runtimes.Runc;

/// <summary>
/// Runs each container with runc: a generated OCI bundle whose root is an overlay of the base image with a writable
/// upper layer that is removed with the container, the build and the host's .NET bind-mounted read-only, its own PID,
/// mount, UTS, IPC and network namespaces, a seccomp filter, and cgroup limits from the function's Cpu and Memory plus
/// a pids limit.
/// </summary>
/// <remarks>
/// Each container's network namespace is attached to the worker's container network (see <see cref="ContainerNetwork"/>),
/// from where it reaches the outside through NAT and the control plane only through the worker's relay. runc runs in
/// the foreground with <c>--keep</c>, so the exit code comes straight back and the cgroup survives the exit long
/// enough to read whether the kernel killed it for memory.
/// </remarks>
public sealed partial class RuncRuntime : IContainerRuntime, ISessionRuntime
{
    private const int PidsLimit = 1024;

    /// <summary>The capabilities a function's process keeps: signalling its own processes, binding low ports, and audit writes.</summary>
    private static readonly string[] FunctionCaps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    private readonly ImageBuilder _images;
    private readonly ContainerNetwork _network;
    private readonly Action<string> _progress;
    private readonly string _state;
    private readonly string _bundles;
    private readonly ILogger? _logger;
    private readonly PlaceholderFiles? _placeholderFiles;
    private readonly PlaceholderPool<RuncPlaceholder>? _pool;
    private readonly string? _defaultRuntimeKey;
    // The container id of each running container that is a specialised placeholder, to that placeholder's runc id.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _runcIds = new(StringComparer.Ordinal);
    private int _basePinned;

    /// <summary>A runtime keeping its images, bundles and runc state under <paramref name="dataDir"/>.</summary>
    /// <param name="dataDir">The worker's data dir.</param>
    /// <param name="baseImage">The root filesystem images are built on.</param>
    /// <param name="progress">Told about image builds, for the worker's log.</param>
    /// <param name="logger">Where the container network logs its setup and relay failures.</param>
    /// <param name="placeholders">How many placeholder containers to keep; null or <see cref="PlaceholderOptions.Off"/> for none.</param>
    /// <param name="time">The clock the placeholder pool measures the rate of cold starts by; default the system's.</param>
    public RuncRuntime(string dataDir, BaseImage baseImage, Action<string> progress, ILogger? logger = null, PlaceholderOptions? placeholders = null,
        TimeProvider? time = null)
        : this(dataDir, baseImage, progress, logger, isolateNetwork: true, placeholders, time)
    {
    }

    /// <param name="isolateNetwork">
    /// False puts containers and builds in the host's network namespace, reaching the control plane directly. It
    /// exists only so the benchmark can measure what isolation costs; it is no user setting.
    /// </param>
    internal RuncRuntime(string dataDir, BaseImage baseImage, Action<string> progress, ILogger? logger, bool isolateNetwork, PlaceholderOptions? placeholders = null,
        TimeProvider? time = null)
    {
        _network = new ContainerNetwork(dataDir, logger, isolateNetwork);
        _images = new ImageBuilder(Path.Combine(dataDir, "images"), Path.Combine(dataDir, "runc-state"), baseImage, _network);
        _progress = progress;
        _logger = logger;
        _state = Path.Combine(dataDir, "runc-state");
        _bundles = Path.Combine(dataDir, "containers");
        if (placeholders is not { Enabled: true })
        {
            return;
        }
        _placeholderFiles = PlaceholderFiles.Prepare(dataDir, logger);
        if (_placeholderFiles is null)
        {
            return;
        }
        _defaultRuntimeKey = PlaceholderFiles.DefaultRuntimeConfig() is { } defaults ? PlaceholderFiles.RuntimeOptionsKey(defaults) : null;
        _pool = new PlaceholderPool<RuncPlaceholder>(placeholders, StartPlaceholderAsync, time ?? TimeProvider.System, logger);
    }

    /// <summary>The placeholder pool, when placeholders are on.</summary>
    internal PlaceholderPool<RuncPlaceholder>? Placeholders => _pool;

    public string Name => "runc";

    /// <summary>
    /// All but checkpoints: <see cref="SnapshotSupport"/> never finds them available yet, as restoring from a checkpoint
    /// is not built.
    /// </summary>
    public RuntimeCapabilities Capabilities { get; } = new(Isolation: true, Images: true, ResourceLimits: true, Gpus: true, Checkpoint: false, Sessions: true);

    /// <summary>Containers have a namespace and address of their own unless network isolation is off (benchmarks only).</summary>
    public bool OwnNetwork => _network.Isolated;

    /// <summary>Volumes are bind-mounted, read-write, at the paths their functions chose.</summary>
    public bool MountsVolumes => true;

    /// <summary>
    /// Removes what a worker that was killed left behind in this data dir: containers still running under runc, their
    /// overlay mounts and bundles. Their control plane has already given their inputs to other containers.
    /// </summary>
    /// <returns>How many containers it removed.</returns>
    public async Task<int> RemoveOrphansAsync(CancellationToken cancellationToken)
    {
        var removed = new HashSet<string>(StringComparer.Ordinal);
        if (Directory.Exists(_state))
        {
            foreach (var dir in Directory.EnumerateDirectories(_state))
            {
                var id = Path.GetFileName(dir);
                await Processes.RunAsync("runc", ["--root", _state, "kill", id, "KILL"], cancellationToken).ConfigureAwait(false);
                await Processes.RunAsync("runc", ["--root", _state, "delete", "-f", id], cancellationToken).ConfigureAwait(false);
                removed.Add(id);
            }
        }
        var bundles = new HashSet<string>(StringComparer.Ordinal);
        if (Directory.Exists(_bundles))
        {
            foreach (var bundle in Directory.EnumerateDirectories(_bundles))
            {
                bundles.Add(Path.GetFileName(bundle));
                await CleanUpAsync(Path.GetFileName(bundle), bundle, null).ConfigureAwait(false);
            }
        }
        // Builds have runc state but no bundle here; both kinds had a network namespace.
        ContainerNetwork.RemoveNamespacesOf([.. removed, .. bundles]);
        return removed.Count;
    }

    /// <summary>True when runc can work here: root, and runc, debootstrap, ip and nft on the PATH.</summary>
    public static bool IsAvailable(out string reason)
    {
        if (Environment.UserName != "root")
        {
            reason = "the worker does not run as root";
            return false;
        }
        foreach (var tool in new[] { "runc", "debootstrap", "ip", "nft" })
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

    /// <summary>The worker's relay on the container network; <paramref name="serverUrl"/> itself without network isolation.</summary>
    public Task<Uri> GetContainerServerUrlAsync(Uri serverUrl, CancellationToken cancellationToken) =>
        _network.ServerUrlAsync(serverUrl, cancellationToken);

    public async Task<IContainerHandle> StartAsync(ContainerSpec spec, ContainerOutputHandler output, CancellationToken cancellationToken)
    {
        void Report(string message) => output(spec.ContainerId, LogStreams.System, message);
        var image = await ResolveImageAsync(spec, Report, cancellationToken).ConfigureAwait(false);
        if (_pool is not null && PlaceholderKindOf(spec, image, _defaultRuntimeKey) is { } kind)
        {
            PinBaseKind(image);
            if (_pool.TryTake(kind) is { } placeholder && await SpecialiseAsync(placeholder, spec, image, output).ConfigureAwait(false) is { } specialised)
            {
                return specialised;
            }
        }
        var (bundle, network) = await PrepareAsync(spec, image, cancellationToken).ConfigureAwait(false);
        var process = new Process { StartInfo = RuncStart("run", "--keep", "--bundle", bundle, spec.ContainerId), EnableRaisingEvents = true };
        var handle = new RuncHandle(spec.ContainerId, spec.ContainerId, process, _state, spec.Settings.MemoryMiB, output, () => CleanUpAsync(spec.ContainerId, bundle, network))
        {
            Address = network?.Address,
        };
        try
        {
            process.Start();
        }
        catch
        {
            await CleanUpAsync(spec.ContainerId, bundle, network).ConfigureAwait(false);
            throw;
        }
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        handle.Watch();
        return handle;
    }

    public async Task<ISessionProcess> StartSessionAsync(ContainerSpec spec, Action<string> progress, CancellationToken cancellationToken)
    {
        var image = await ResolveImageAsync(spec, progress, cancellationToken).ConfigureAwait(false);
        var (bundle, network) = await PrepareAsync(spec, image, cancellationToken).ConfigureAwait(false);
        Process process;
        try
        {
            process = Process.Start(RuncStart("run", "--bundle", bundle, spec.ContainerId))!;
        }
        catch
        {
            await CleanUpAsync(spec.ContainerId, bundle, network).ConfigureAwait(false);
            throw;
        }
        return new RuncSession(process, async () =>
        {
            await Processes.RunAsync("runc", ["--root", _state, "kill", spec.ContainerId, "KILL"], CancellationToken.None).ConfigureAwait(false);
            await process.WaitForExitAsync().ConfigureAwait(false);
            await CleanUpAsync(spec.ContainerId, bundle, network).ConfigureAwait(false);
        });
    }

    public Task<ISessionProcess> ExecAsync(string containerId, IReadOnlyList<string> command, CancellationToken cancellationToken)
    {
        // A container that was a placeholder runs under the placeholder's runc id.
        var runcId = _runcIds.GetValueOrDefault(containerId, containerId);
        // runc's own report of a missing program is a line of its internals; this says it in the user's terms.
        if (command.Count > 0 && MissingCommand(Path.Combine(_bundles, runcId), command[0]) is { } missing)
        {
            throw new InvalidOperationException(missing);
        }
        var process = Process.Start(RuncStart(["exec", runcId, .. command]))!;
        return Task.FromResult<ISessionProcess>(new RuncSession(process, async () =>
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
            await process.WaitForExitAsync().ConfigureAwait(false);
        }));
    }

    /// <summary>
    /// Why <paramref name="program"/> cannot run in the container whose bundle is <paramref name="bundle"/>, or null
    /// when it is there (or cannot be told from outside, such as through a link that points out of the root).
    /// </summary>
    internal static string? MissingCommand(string bundle, string program)
    {
        var rootfs = Path.Combine(bundle, "rootfs");
        if (!Directory.Exists(rootfs))
        {
            return null;
        }
        static bool Exists(string path) => File.Exists(path) || new FileInfo(path).LinkTarget is not null;
        if (program.Contains('/', StringComparison.Ordinal))
        {
            return program.StartsWith('/') && !Exists(rootfs + program) ? $"The container has no file '{program}'." : null;
        }
        var path = ContainerPath(bundle);
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries).Any(dir => Exists(Path.Combine(rootfs + dir, program)))
            ? null
            : $"The container has no command '{program}' in its PATH ({path}). Install it in the image, for example with .AptInstall(...), or give its full path.";
    }

    private static string ContainerPath(string bundle)
    {
        const string Default = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        try
        {
            using var config = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(Path.Combine(bundle, "config.json")));
            return config.RootElement.GetProperty("process").GetProperty("env").EnumerateArray()
                .Select(e => e.GetString() ?? "")
                .FirstOrDefault(e => e.StartsWith("PATH=", StringComparison.Ordinal))?["PATH=".Length..] ?? Default;
        }
        catch (Exception e) when (e is IOException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return Default;
        }
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

    /// <summary>Resolves the container's image, building what is missing; its app sees a build through its log.</summary>
    private async Task<ResolvedImage> ResolveImageAsync(ContainerSpec spec, Action<string> report, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var image = await _images.EnsureAsync(
            spec.Settings.Image,
            new ImageRequest(spec.AppId, spec.BuildDir, spec.EntryAssembly, spec.Blobs ?? NoBlobs.Instance),
            message =>
            {
                if (!message.StartsWith(' '))
                {
                    _progress(message);
                }
                report(message);
            },
            cancellationToken).ConfigureAwait(false);
        spec.ImageReady?.Invoke(image, clock.Elapsed);
        return image;
    }

    /// <summary>
    /// Mounts the container's root while its network is set up, and writes its bundle; returns the bundle's path and
    /// the network attachment.
    /// </summary>
    private Task<(string Bundle, NetworkAttachment? Network)> PrepareAsync(ContainerSpec spec, ResolvedImage image, CancellationToken cancellationToken) =>
        PrepareBundleAsync(spec.ContainerId, image, network => Config(spec, image, network), cancellationToken);

    private async Task<(string Bundle, NetworkAttachment? Network)> PrepareBundleAsync(string containerId, ResolvedImage image,
        Func<NetworkAttachment?, JsonObject> config, CancellationToken cancellationToken)
    {
        var bundle = Path.Combine(_bundles, containerId);
        var rootfs = Path.Combine(bundle, "rootfs");
        Directory.CreateDirectory(Path.Combine(bundle, "upper"));
        Directory.CreateDirectory(Path.Combine(bundle, "work"));
        Directory.CreateDirectory(rootfs);
        Directory.CreateDirectory(_state);
        var attaching = _network.AttachAsync(containerId, cancellationToken);
        var mounting = Processes.RunAsync("mount", ["-t", "overlay", "overlay", "-o",
            OverlayMount.Options(image.Lowers, Path.Combine(bundle, "upper"), Path.Combine(bundle, "work")), rootfs], cancellationToken);
        try
        {
            await Task.WhenAll(attaching, mounting).ConfigureAwait(false);
            var (code, text) = await mounting.ConfigureAwait(false);
            if (code != 0)
            {
                throw new InvalidOperationException($"Mounting the container's root filesystem failed: {text.Trim()}");
            }
            await File.WriteAllTextAsync(Path.Combine(bundle, "hosts"), HostsFile(containerId), cancellationToken).ConfigureAwait(false);
            // The config holds the container's token and its secrets' values: only root reads it.
            var configText = config(await attaching.ConfigureAwait(false)).ToJsonString();
            var configOptions = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                configOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }
            await using (var file = new FileStream(Path.Combine(bundle, "config.json"), configOptions))
            {
                await file.WriteAsync(System.Text.Encoding.UTF8.GetBytes(configText), cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            await CleanUpAsync(containerId, bundle, attaching.IsCompletedSuccessfully ? await attaching.ConfigureAwait(false) : null).ConfigureAwait(false);
            throw;
        }
        return (bundle, await attaching.ConfigureAwait(false));
    }

    /// <summary>Deletes a container's runc state, removes its network, unmounts its root and removes its bundle.</summary>
    private async Task CleanUpAsync(string containerId, string bundle, NetworkAttachment? network)
    {
        await Processes.RunAsync("runc", ["--root", _state, "delete", "-f", containerId], CancellationToken.None).ConfigureAwait(false);
        _network.Detach(network);
        await Processes.RunAsync("umount", ["-l", Path.Combine(bundle, "rootfs")], CancellationToken.None).ConfigureAwait(false);
        try
        {
            Directory.Delete(bundle, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static string HostsFile(string hostname) => $"127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\t{hostname}\n";

    /// <summary>Retires the idle placeholders, then removes the container network; the worker has stopped its containers first.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_pool is not null)
        {
            await _pool.DisposeAsync().ConfigureAwait(false);
        }
        await _network.DisposeAsync().ConfigureAwait(false);
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

    /// <summary>The variables every function container starts with, before its image's and its own.</summary>
    internal static List<string> BaseEnvironment()
    {
        var dotnet = DotnetDir();
        return
        [
            $"PATH={dotnet}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME=/root", "LANG=C.UTF-8", "TMPDIR=/tmp", $"DOTNET_ROOT={dotnet}", "DOTNET_CLI_TELEMETRY_OPTOUT=1",
            "DOTNET_NOLOGO=1", "DOTNET_gcServer=0", "DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1",
        ];
    }

    /// <summary>A function container's environment, <c>KEY=value</c> in order: the base, the image's, the container's.</summary>
    internal static List<string> ContainerEnvironment(ContainerSpec spec, ResolvedImage image)
    {
        var env = BaseEnvironment();
        env.AddRange(image.Environment);
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
        return env;
    }

    /// <summary>The OCI config of a container; with no <paramref name="network"/>, it shares the host's network namespace.</summary>
    /// <param name="appDir">The host directory mounted at <c>/app</c>; the build's own by default.</param>
    /// <param name="extraMounts">Mounts after the others, such as a placeholder's program.</param>
    /// <param name="cpuShares">The CPU shares, when not the default (a placeholder's while it starts).</param>
    internal static JsonObject Config(ContainerSpec spec, ResolvedImage image, NetworkAttachment? network, Func<string, (long Major, long Minor)?>? stat = null,
        string? appDir = null, IReadOnlyList<OciMount>? extraMounts = null, long? cpuShares = null)
    {
        var dotnet = DotnetDir();
        var mounts = new List<OciMount>
        {
            OciMount.ReadOnlyTree(dotnet, dotnet),
            OciMount.ReadOnlyTree("/app", appDir ?? spec.BuildDir),
            OciMount.Resolver(network),
            OciMount.ReadOnlyFile("/etc/hosts", "hosts"),
            // The container's own cgroups, read-only, so user code and .NET see its memory, CPU and pids limits.
            OciMount.Cgroups,
        };
        mounts.AddRange(image.Mounts.Select(m => OciMount.ReadOnlyTree(m.Destination, m.Source)));
        foreach (var volume in spec.Volumes ?? [])
        {
            mounts.Add(new OciMount(volume.Mount.Path, "bind", volume.HostDir, ["rbind", "rw", "nosuid", "nodev"]));
        }
        if (spec.VolumeStateDir is { } volumeState && spec.Volumes is { Count: > 0 })
        {
            mounts.Add(new OciMount(VolumeMountPaths.StateDir, "bind", volumeState, ["rbind", "rw", "nosuid", "nodev", "noexec"]));
        }
        mounts.AddRange(extraMounts ?? []);
        return new OciSpec
        {
            Hostname = spec.ContainerId,
            Args = spec.Command ?? ["dotnet", "/app/" + spec.EntryAssembly],
            Env = ContainerEnvironment(spec, image),
            Cwd = image.Workdir ?? "/app",
            Capabilities = FunctionCaps,
            Network = network,
            TmpSize = "256m",
            Mounts = mounts,
            Devices = GpuDevices.For(spec.GpuIndices, stat ?? GpuDevices.Stat),
            PidsLimit = PidsLimit,
            MemoryBytes = spec.Settings.MemoryMiB * 1024L * 1024L,
            Cpus = spec.Settings.Cpu,
            CpuShares = cpuShares,
        }.ToJson();
    }

    private sealed class NoBlobs : IBlobSource
    {
        public static readonly NoBlobs Instance = new();

        public Task DownloadAsync(string hash, string target, CancellationToken cancellationToken) =>
            throw new Ferry.Worker.Images.ImageBuildException("This container has no control plane to fetch the image's files from.");
    }

    /// <summary>Reads whether the kernel's OOM killer fired in a container's memory cgroup.</summary>
    internal static bool WasOomKilled(string containerId)
    {
        var path = $"/sys/fs/cgroup/memory/{OciSpec.CgroupParent}/{containerId}/memory.oom_control";
        if (!File.Exists(path))
        {
            return false;
        }
        var line = File.ReadLines(path).FirstOrDefault(l => l.StartsWith("oom_kill ", StringComparison.Ordinal));
        return line is not null && long.Parse(line["oom_kill ".Length..], CultureInfo.InvariantCulture) > 0;
    }

    /// <param name="runcId">The id runc knows the container by: its own, or the placeholder's it was specialised from.</param>
    private sealed class RuncHandle(string containerId, string runcId, Process process, string state, int? memoryMiB, ContainerOutputHandler output, Func<Task> cleanUp)
        : ProcessContainerHandle(containerId, process, output), IContainerHandle
    {
        public System.Net.IPAddress? Address { get; init; }

        protected override async Task<ContainerExit> DescribeExitAsync(int exitCode, string? stderrTail)
        {
            // Read before the cgroup goes with the container.
            var oom = WasOomKilled(runcId);
            await cleanUp().ConfigureAwait(false);
            return oom
                ? new ContainerExit(exitCode, ErrorKinds.OutOfMemory, $"killed for exceeding its memory limit of {memoryMiB} MiB")
                : StopRequested
                    ? new ContainerExit(exitCode, "stopped", null)
                    : new ContainerExit(exitCode, ErrorKinds.Crash, $"exit code {exitCode}" + (stderrTail is null ? "" : Environment.NewLine + stderrTail));
        }

        protected override Task SignalAsync(bool kill) =>
            Processes.RunAsync("runc", ["--root", state, "kill", runcId, kill ? "KILL" : "TERM"], CancellationToken.None);
    }
}
