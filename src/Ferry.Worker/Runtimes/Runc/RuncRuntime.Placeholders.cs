using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Ferry.Protocol;
using Ferry.Worker.Images;
using Ferry.Worker.Runtimes.Placeholders;
using Microsoft.Extensions.Logging;

namespace Ferry.Worker.Runtimes.Runc;

/// <summary>
/// Placeholder containers: pre-started containers on an image, with .NET and Ferry loaded and an empty <c>/app</c> of
/// their own, that become a function's container on a cold start. Specialising one links the build into its
/// <c>/app</c>, applies the function's limits to its cgroups and names it, all before it is told its app, so the first
/// line of user code already runs under the function's own limits.
/// </summary>
public sealed partial class RuncRuntime
{
    /// <summary>Where a placeholder container sees the placeholder program.</summary>
    private const string PlaceholderMount = "/run/ferry/placeholder";
    private const int CpuPeriod = 100_000;

    /// <summary>
    /// A placeholder's CPU shares until it is specialised (the least there is): starting one in the background, JIT
    /// and all, yields the CPUs to the containers that run, such as the cold start it replaces.
    /// </summary>
    private const int PlaceholderCpuShares = 2;

    /// <summary>Every other container's CPU shares, the cgroup default.</summary>
    private const int DefaultCpuShares = 1024;

    /// <summary>
    /// What a placeholder loaded at start and cannot change afterwards: its runtime settings, its image's layers and
    /// mounts, and the processor count .NET derived from its CPU quota.
    /// </summary>
    private sealed record RuncKind(string RuntimeKey, ResolvedImage Image, int Processors);

    /// <summary>The processor count .NET computes at start under <paramref name="cpu"/> (its CPU quota rounded up).</summary>
    private static int ProcessorsFor(double? cpu) => cpu is { } c
        ? Math.Clamp((int)Math.Ceiling(Math.Round(c * CpuPeriod) / CpuPeriod), 1, System.Environment.ProcessorCount)
        : System.Environment.ProcessorCount;

    /// <summary>The variables a placeholder container starts with, before it learns its app's.</summary>
    private static Dictionary<string, string> PlaceholderStartEnvironment()
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in BaseEnvironment())
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            environment[pair[..eq]] = pair[(eq + 1)..];
        }
        foreach (var (name, value) in WorkerAgent.ContainerRuntimeSettings)
        {
            environment[name] = value;
        }
        return environment;
    }

    /// <summary>
    /// The kind of placeholder that can become <paramref name="spec"/>'s container, or null when none can: a session's
    /// command, GPUs and volumes are set up when a container is created, and a variable that changes how .NET starts
    /// (from the function or its image) acts only at start. Its host is the kind of <paramref name="defaultRuntimeKey"/>
    /// on the same image and processor count, when those settings can run the program (<see cref="PlaceholderKind.Host"/>).
    /// </summary>
    internal static PlaceholderKind? PlaceholderKindOf(ContainerSpec spec, ResolvedImage image, string? defaultRuntimeKey = null)
    {
        if (spec.Command is not null || spec.GpuIndices.Count > 0 || spec.Volumes is { Count: > 0 })
        {
            return null;
        }
        var start = PlaceholderStartEnvironment();
        var variables = image.Environment.Select(pair => pair.Split('=', 2)).Select(p => KeyValuePair.Create(p[0], p.Length > 1 ? p[1] : ""))
            .Concat(spec.Environment);
        foreach (var (name, value) in variables)
        {
            if (ProcessRuntime.IsRuntimeVariable(name) && !(start.TryGetValue(name, out var given) && given == value))
            {
                return null;
            }
        }
        if (PlaceholderFiles.ReadRuntimeConfig(spec.BuildDir, spec.EntryAssembly) is not { } config || PlaceholderFiles.RuntimeOptionsKey(config) is not { } runtimeKey)
        {
            return null;
        }
        var processors = ProcessorsFor(spec.Settings.Cpu);
        return Kind(runtimeKey, image, processors) with { Host = defaultRuntimeKey is { } host ? Kind(host, image, processors) : null };
    }

    private static PlaceholderKind Kind(string runtimeKey, ResolvedImage image, int processors)
    {
        var key = string.Join('\n', runtimeKey, string.Join(':', image.Lowers),
            string.Join(';', image.Mounts.Select(m => m.Source + ">" + m.Destination)), processors.ToString(CultureInfo.InvariantCulture));
        return new PlaceholderKind(key, runtimeKey, new RuncKind(runtimeKey, image, processors));
    }

    /// <summary>Keeps a placeholder of the base image and Ferry's template settings ready from the first time the base image is used.</summary>
    private void PinBaseKind(ResolvedImage image)
    {
        if (image.Layers == 0 && image.Mounts.Count == 0 && _defaultRuntimeKey is { } key && Interlocked.Exchange(ref _basePinned, 1) == 0)
        {
            _pool!.Pin(Kind(key, image, System.Environment.ProcessorCount));
        }
    }

    /// <summary>Creates and starts one placeholder container of <paramref name="kind"/>.</summary>
    private async Task<RuncPlaceholder> StartPlaceholderAsync(PlaceholderKind kind, CancellationToken cancellationToken)
    {
        var (runtimeKey, image, processors) = (RuncKind)kind.State;
        var files = _placeholderFiles!;
        var id = "ph-" + Guid.NewGuid().ToString("N")[..16];
        var runtimeConfig = PlaceholderMount + "/" + Path.GetFileName(files.RuntimeConfigFor(runtimeKey));
        var appDir = Path.Combine(_bundles, id, "app");
        Directory.CreateDirectory(appDir);
        // It starts with the base environment and Ferry's runtime settings: the image's variables and working
        // directory, like the app's, come with the specialisation. A CPU quota of whole processors gives .NET the
        // processor count the function's own quota will.
        var spec = new ContainerSpec(id, appDir, PlaceholderFiles.ProgramName, WorkerAgent.ContainerRuntimeSettings,
            new FunctionSettings { Cpu = processors < System.Environment.ProcessorCount ? processors : null }, [],
            Command: ["dotnet", "exec", "--runtimeconfig", runtimeConfig, PlaceholderMount + "/" + PlaceholderFiles.ProgramName]);
        var startImage = image with { Environment = [], Workdir = null };
        var (bundle, network) = await PrepareBundleAsync(id, startImage,
            attachment => Config(spec, startImage, attachment, appDir: appDir, extraMounts: [OciMount.ReadOnlyTree(PlaceholderMount, files.Directory)],
                cpuShares: PlaceholderCpuShares),
            cancellationToken).ConfigureAwait(false);
        return RuncPlaceholder.Start(id, bundle, network, _state, () => CleanUpAsync(id, bundle, network));
    }

    /// <summary>
    /// Turns <paramref name="placeholder"/> into <paramref name="spec"/>'s container; null when it cannot be (it ended,
    /// or a limit could not be applied), after retiring it, so the caller starts a new container instead.
    /// </summary>
    private async Task<IContainerHandle?> SpecialiseAsync(RuncPlaceholder placeholder, ContainerSpec spec, ResolvedImage image, ContainerOutputHandler output)
    {
        var started = Stopwatch.GetTimestamp();
        placeholder.MarkSpecialised();
        TimeSpan linked, limited;
        try
        {
            // Independent steps, together: the build into its /app, the function's limits, the container's name.
            var linking = Task.Run(() =>
            {
                LinkTree(spec.BuildDir, placeholder.AppDir);
                return Stopwatch.GetElapsedTime(started);
            });
            var limiting = ApplyLimitsAsync(placeholder.Id, spec.Settings);
            var naming = NameAsync(placeholder, spec.ContainerId);
            await Task.WhenAll(linking, limiting, naming).ConfigureAwait(false);
            (linked, limited) = (linking.Result, limiting.Result);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            if (_logger is not null)
            {
                LogSpecialiseFailed(_logger, placeholder.Id, spec.ContainerId, e.Message);
            }
            _ = placeholder.DisposeAsync().AsTask();
            return null;
        }
        var containerId = spec.ContainerId;
        var handle = new RuncHandle(containerId, placeholder.Id, placeholder.Process, _state, spec.Settings.MemoryMiB, output, async () =>
        {
            _runcIds.TryRemove(containerId, out _);
            await placeholder.CleanUpAsync().ConfigureAwait(false);
        })
        {
            Address = placeholder.Network?.Address,
        };
        _runcIds[containerId] = placeholder.Id;
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in ContainerEnvironment(spec, image))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            environment[pair[..eq]] = pair[(eq + 1)..];
        }
        try
        {
            placeholder.Specialise(environment, image.Workdir ?? "/app", "/app/" + spec.EntryAssembly);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            // It ended between being taken and being told its app.
            _runcIds.TryRemove(containerId, out _);
            _ = placeholder.DisposeAsync().AsTask();
            return null;
        }
        handle.Watch();
        var timing = new SpecialiseTiming(Stopwatch.GetElapsedTime(started), linked, limited);
        LastSpecialise = timing;
        if (_logger is not null)
        {
            LogSpecialised(_logger, containerId, placeholder.Id, timing.Total.TotalMilliseconds, timing.Limits.TotalMilliseconds, timing.Link.TotalMilliseconds);
        }
        return handle;
    }

    /// <summary>Hard-links every file of <paramref name="source"/> into <paramref name="target"/> (copies where a link cannot cross filesystems).</summary>
    private static void LinkTree(string source, string target)
    {
        foreach (var dir in Directory.EnumerateDirectories(source, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(target, Path.GetRelativePath(source, dir)));
        }
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(target, Path.GetRelativePath(source, file));
            if (Link(file, to) != 0)
            {
                File.Copy(file, to);
            }
        }
    }

    /// <summary>How long the last specialisation took, and its two slowest steps (which overlap); for the benchmark.</summary>
    internal SpecialiseTiming? LastSpecialise { get; private set; }

    /// <summary>
    /// A specialisation's time from taking the placeholder to telling it its app, and how long linking the build and
    /// applying the limits took of it; those run at once, beside naming the container.
    /// </summary>
    internal sealed record SpecialiseTiming(TimeSpan Total, TimeSpan Link, TimeSpan Limits);

    /// <summary>
    /// The function's memory and CPU limits, and every container's CPU shares, on the placeholder's cgroups; its pids
    /// limit is every container's already. Returns how long it took.
    /// </summary>
    /// <remarks>
    /// Written straight into the cgroup (v1) files where they all exist, which is what <c>runc update</c> does too:
    /// starting runc for it took most of a specialisation (11.4 ms of 11.6 on a loaded machine, bench/RESULTS.md).
    /// Elsewhere (cgroup v2, no swap accounting) runc applies them.
    /// </remarks>
    private async Task<TimeSpan> ApplyLimitsAsync(string runcId, FunctionSettings settings)
    {
        var started = Stopwatch.GetTimestamp();
        if (LimitFiles(runcId, settings) is { } files)
        {
            foreach (var (path, value) in files)
            {
                try
                {
                    await File.WriteAllTextAsync(path, value).ConfigureAwait(false);
                }
                catch (IOException e)
                {
                    // The kernel refuses a memory limit below what the container already holds (EBUSY).
                    throw new IOException($"Writing {value} to {path} failed: {e.Message}", e);
                }
            }
            return Stopwatch.GetElapsedTime(started);
        }
        var args = new List<string> { "--root", _state, "update", "--cpu-share", DefaultCpuShares.ToString(CultureInfo.InvariantCulture) };
        if (settings.MemoryMiB is { } memory)
        {
            var bytes = (memory * 1024L * 1024L).ToString(CultureInfo.InvariantCulture);
            args.AddRange(["--memory", bytes, "--memory-swap", bytes]);
        }
        if (settings.Cpu is { } cpu)
        {
            args.AddRange(["--cpu-period", CpuPeriod.ToString(CultureInfo.InvariantCulture), "--cpu-quota", ((long)Math.Round(cpu * CpuPeriod)).ToString(CultureInfo.InvariantCulture)]);
        }
        args.Add(runcId);
        var (code, text) = await Processes.RunAsync("runc", args, CancellationToken.None).ConfigureAwait(false);
        if (code != 0)
        {
            throw new InvalidOperationException($"runc update failed: {text.Trim()}");
        }
        return Stopwatch.GetElapsedTime(started);
    }

    /// <summary>
    /// The cgroup v1 files, and what to write to them in order, that give the container <paramref name="settings"/>'s
    /// limits, or null when any of them is missing. The memory limit goes before memory plus swap, which may not be
    /// below it (both start unlimited), and the CPU period before the quota.
    /// </summary>
    internal static List<(string Path, string Value)>? LimitFiles(string runcId, FunctionSettings settings, string root = "/sys/fs/cgroup")
    {
        string File(string controller, string name) => Path.Combine(root, controller, OciSpec.CgroupParent, runcId, name);
        var files = new List<(string, string)> { (File("cpu", "cpu.shares"), DefaultCpuShares.ToString(CultureInfo.InvariantCulture)) };
        if (settings.MemoryMiB is { } memory)
        {
            var bytes = (memory * 1024L * 1024L).ToString(CultureInfo.InvariantCulture);
            files.Add((File("memory", "memory.limit_in_bytes"), bytes));
            files.Add((File("memory", "memory.memsw.limit_in_bytes"), bytes));
        }
        if (settings.Cpu is { } cpu)
        {
            files.Add((File("cpu", "cpu.cfs_period_us"), CpuPeriod.ToString(CultureInfo.InvariantCulture)));
            files.Add((File("cpu", "cpu.cfs_quota_us"), ((long)Math.Round(cpu * CpuPeriod)).ToString(CultureInfo.InvariantCulture)));
        }
        return files.All(f => System.IO.File.Exists(f.Item1)) ? files : null;
    }

    /// <summary>Gives the container its own id as hostname, in its UTS namespace and its <c>/etc/hosts</c>, as a new container has.</summary>
    private static async Task NameAsync(RuncPlaceholder placeholder, string hostname)
    {
        // Rewritten in place: the container's /etc/hosts is a bind of this very file.
        await File.WriteAllTextAsync(Path.Combine(placeholder.Bundle, "hosts"), HostsFile(hostname)).ConfigureAwait(false);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // A thread of its own joins the container's UTS namespace and ends with it, so no other code runs there.
        var thread = new Thread(() =>
        {
            try
            {
                using var ns = File.OpenHandle($"/proc/{placeholder.Pid}/ns/uts");
                if (SetNs(ns.DangerousGetHandle().ToInt32(), CloneNewUts) != 0)
                {
                    throw new InvalidOperationException($"Joining the placeholder's UTS namespace failed (errno {Marshal.GetLastPInvokeError()}).");
                }
                var name = System.Text.Encoding.ASCII.GetBytes(hostname);
                if (SetHostName(name, name.Length) != 0)
                {
                    throw new InvalidOperationException($"Setting the container's hostname failed (errno {Marshal.GetLastPInvokeError()}).");
                }
                done.TrySetResult();
            }
            catch (Exception e)
            {
                done.TrySetException(e);
            }
        })
        { IsBackground = true, Name = "ferry-hostname" };
        thread.Start();
        await done.Task.ConfigureAwait(false);
    }

    private const int CloneNewUts = 0x04000000;

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existing, string created);

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int type);

    [LibraryImport("libc", EntryPoint = "sethostname", SetLastError = true)]
    private static partial int SetHostName(byte[] name, nint length);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Container {ContainerId} started from placeholder {PlaceholderId} in {ElapsedMs} ms (limits {LimitsMs} ms, linking the build {LinkMs} ms, at once)")]
    private static partial void LogSpecialised(ILogger logger, string containerId, string placeholderId, double elapsedMs, double limitsMs, double linkMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Placeholder {PlaceholderId} could not become container {ContainerId} ({Reason}); it starts as a new container.")]
    private static partial void LogSpecialiseFailed(ILogger logger, string placeholderId, string containerId, string reason);
}
