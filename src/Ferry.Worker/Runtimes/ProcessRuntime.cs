using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Ferry.Protocol;
using Ferry.Worker.Runtimes.Placeholders;
using Microsoft.Extensions.Logging;

namespace Ferry.Worker.Runtimes;

/// <summary>
/// Runs each container as a child process of the worker, with no isolation: the user's program runs on the host with
/// the host's .NET. Images, resource limits and GPU masking are not applied.
/// </summary>
/// <remarks>
/// With placeholders on, a cold start takes a pre-started placeholder process (the runtime and Ferry already loaded)
/// when one of the program's kind is ready, and hands it the environment, working directory and program a new
/// process would have had; otherwise it starts a new process. Programs whose environment sets the runtime's own
/// variables (<c>DOTNET_*</c> and the like, read only when a process starts) always get a new process.
/// </remarks>
public sealed partial class ProcessRuntime : IContainerRuntime
{
    private static readonly string[] RuntimeVariablePrefixes = ["DOTNET_", "CORECLR_", "COREHOST_", "COMPlus_"];
    private readonly PlaceholderFiles? _placeholderFiles;
    private readonly PlaceholderPool<ProcessPlaceholder>? _pool;
    private readonly PlaceholderKind? _defaultKind;

    /// <summary>A runtime without placeholders: every container is a new process.</summary>
    public ProcessRuntime()
    {
    }

    /// <summary>A runtime that keeps placeholder processes as <paramref name="placeholders"/> says, under <paramref name="dataDir"/>.</summary>
    /// <param name="dataDir">The worker's data dir; the placeholder program is copied under it.</param>
    /// <param name="placeholders">How many placeholders to keep; <see cref="PlaceholderOptions.Off"/> for none.</param>
    /// <param name="logger">Where a placeholder that fails to start is reported.</param>
    /// <param name="time">The clock the pool measures the rate of cold starts by.</param>
    public ProcessRuntime(string dataDir, PlaceholderOptions placeholders, ILogger? logger = null, TimeProvider? time = null)
    {
        if (!placeholders.Enabled)
        {
            return;
        }
        _placeholderFiles = PlaceholderFiles.Prepare(dataDir, logger);
        if (_placeholderFiles is null)
        {
            return;
        }
        var files = _placeholderFiles;
        _pool = new PlaceholderPool<ProcessPlaceholder>(placeholders,
            (kind, _) => Task.FromResult(ProcessPlaceholder.Start(files, files.RuntimeConfigFor(kind.RuntimeKey))), time ?? TimeProvider.System, logger);
        if (PlaceholderFiles.DefaultRuntimeConfig() is { } defaults && PlaceholderFiles.RuntimeOptionsKey(defaults) is { } key)
        {
            _defaultKind = Kind(key);
            _pool.Pin(_defaultKind);
        }
    }

    /// <summary>The placeholder pool, when placeholders are on.</summary>
    internal PlaceholderPool<ProcessPlaceholder>? Placeholders => _pool;

    public string Name => "process";

    /// <summary>None: the program runs on the host, beside the worker.</summary>
    public RuntimeCapabilities Capabilities => RuntimeCapabilities.None;

    /// <summary>The server's own URL: the program runs on the host, beside the worker.</summary>
    public Task<Uri> GetContainerServerUrlAsync(Uri serverUrl, CancellationToken cancellationToken) => Task.FromResult(serverUrl);

    public async ValueTask DisposeAsync()
    {
        if (_pool is not null)
        {
            await _pool.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The kind of placeholder that can become <paramref name="spec"/>'s container, or null when none can; its host is
    /// <paramref name="defaultKind"/> when that can run the program.
    /// </summary>
    internal static PlaceholderKind? KindOf(ContainerSpec spec, PlaceholderKind? defaultKind)
    {
        if (spec.Command is not null || spec.Environment.Any(e => SetsRuntimeVariable(e.Key, e.Value)))
        {
            return null;
        }
        return PlaceholderFiles.ReadRuntimeConfig(spec.BuildDir, spec.EntryAssembly) is { } config && PlaceholderFiles.RuntimeOptionsKey(config) is { } key
            ? Kind(key) with { Host = defaultKind }
            : null;
    }

    /// <summary>A process placeholder's kind is its runtime settings alone.</summary>
    private static PlaceholderKind Kind(string runtimeKey) => new(runtimeKey, runtimeKey, runtimeKey);

    /// <summary>
    /// Whether a variable changes how the runtime starts, beyond the settings every container and every placeholder
    /// start with (<see cref="WorkerAgent.ContainerRuntimeSettings"/>).
    /// </summary>
    private static bool SetsRuntimeVariable(string name, string value) =>
        IsRuntimeVariable(name)
        && !(WorkerAgent.ContainerRuntimeSettings.TryGetValue(name, out var given) && given == value);

    /// <summary>Whether <paramref name="name"/> is one of the variables .NET reads only when a process starts.</summary>
    internal static bool IsRuntimeVariable(string name) => RuntimeVariablePrefixes.Any(p => name.StartsWith(p, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// How far below the worker's a container process's CPU priority is: its nice value, over the worker's. Under runc
    /// every container is in one cgroup, which weighs as much as one thread of the control plane; here containers are
    /// plain processes, each thread weighing as much as the control plane's. With 8 of them busy on 2 cores, the
    /// control plane's health answer had a p99 of 50-57 ms while a spawn map of 1,000,000 was accepted. With 5, 32-38
    /// ms, while maps of 100,000 ran at 42,800-54,800 inputs/s against 44,800-59,900 in alternating runs; with 10,
    /// 20-23 ms, but maps of 100,000 at 41,000 inputs/s (bench/RESULTS.md, 2026-11-30).
    /// </summary>
    internal const int ContainerNice = 5;

    // coreutils' nice, which runs dotnet in its own place at the lower priority, so every thread the runtime starts
    // has it; it is part of every Debian system, and its absence only means containers run at the worker's priority.
    private static readonly bool HasNice = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(':', StringSplitOptions.RemoveEmptyEntries).Any(dir => File.Exists(Path.Combine(dir, "nice")));

    /// <summary>
    /// Starts <c>dotnet</c> with <paramref name="arguments"/> in <paramref name="workingDirectory"/>, at the containers'
    /// priority (<see cref="ContainerNice"/>), with its standard streams redirected: a container's process, or a
    /// placeholder's, which becomes one.
    /// </summary>
    internal static ProcessStartInfo DotnetStart(string workingDirectory, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(HasNice ? "nice" : "dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (HasNice)
        {
            info.ArgumentList.Add("-n");
            info.ArgumentList.Add(ContainerNice.ToString(CultureInfo.InvariantCulture));
            info.ArgumentList.Add("dotnet");
        }
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        return info;
    }

    public Task<IContainerHandle> StartAsync(ContainerSpec spec, ContainerOutputHandler output, CancellationToken cancellationToken)
    {
        if (_pool is not null && KindOf(spec, _defaultKind) is { } kind && _pool.TryTake(kind) is { } placeholder)
        {
            var environment = new ProcessStartInfo().Environment;
            Configure(environment, spec);
            var specialised = new ProcessHandle(spec.ContainerId, placeholder.Process, output);
            try
            {
                placeholder.Specialise(environment.Where(e => e.Value is not null).ToDictionary(e => e.Key, e => e.Value!, StringComparer.Ordinal),
                    spec.BuildDir, Path.Combine(spec.BuildDir, spec.EntryAssembly));
                specialised.Watch();
                return Task.FromResult<IContainerHandle>(specialised);
            }
            catch (IOException)
            {
                // The placeholder ended between being taken and being told its app: start a new process instead.
                _ = placeholder.DisposeAsync().AsTask();
            }
        }
        var info = DotnetStart(spec.BuildDir, [Path.Combine(spec.BuildDir, spec.EntryAssembly)]);
        Configure(info.Environment, spec);
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var handle = new ProcessHandle(spec.ContainerId, process, output);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        handle.Watch();
        return Task.FromResult<IContainerHandle>(handle);
    }

    /// <summary>The container's variables over the worker's own: the one place both kinds of start take them from.</summary>
    private static void Configure(IDictionary<string, string?> environment, ContainerSpec spec)
    {
        foreach (var (key, value) in spec.Environment)
        {
            environment[key] = value;
        }
        if (spec.GpuIndices.Count > 0)
        {
            var devices = string.Join(',', spec.GpuIndices);
            environment["CUDA_VISIBLE_DEVICES"] = devices;
            environment["NVIDIA_VISIBLE_DEVICES"] = devices;
        }
    }

    private sealed partial class ProcessHandle(string containerId, Process process, ContainerOutputHandler output)
        : ProcessContainerHandle(containerId, process, output)
    {
        protected override Task<ContainerExit> DescribeExitAsync(int exitCode, string? stderrTail) => Task.FromResult(StopRequested
            ? new ContainerExit(exitCode, "stopped", null)
            : new ContainerExit(exitCode, ErrorKinds.Crash, DescribeExit(exitCode) + (stderrTail is null ? "" : Environment.NewLine + stderrTail)));

        private static string DescribeExit(int code) => code switch
        {
            > 128 and < 160 => $"killed by signal {code - 128}",
            _ => $"exit code {code}",
        };

        protected override Task SignalAsync(bool kill)
        {
            try
            {
                if (kill)
                {
                    Process.Kill(entireProcessTree: true);
                }
                else
                {
                    _ = Kill(Process.Id, Sigterm);
                }
            }
            catch (InvalidOperationException)
            {
                // The process has already exited.
            }
            return Task.CompletedTask;
        }

        private const int Sigterm = 15;

        [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
        private static partial int Kill(int pid, int signal);
    }
}
