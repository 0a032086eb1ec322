using System.Reflection;
using System.Runtime.InteropServices;
using Ferry;

namespace Ferry.TestApp;

/// <summary>
/// What user code can see of the container it runs in, for the tests that compare a container specialised from a
/// placeholder with a freshly started one.
/// </summary>
public sealed record ContainerProbe(
    string? PreviousStatic,
    int ProcessId,
    string WorkingDirectory,
    string BaseDirectory,
    string? EntryAssembly,
    Dictionary<string, string> Environment,
    string? NativeSecret,
    string? StandardInput,
    string Hostname,
    long ProcessStartTicks,
    int ProcessorCount,
    long TotalAvailableMemoryBytes,
    Dictionary<string, string> Limits,
    string[] CommandLine,
    int Nice);

/// <summary>Functions and a class that report what they see of their container.</summary>
public sealed partial class PlaceholderFunctions
{
    /// <summary>The secret value <see cref="Probe"/>'s function is given.</summary>
    public const string SecretValue = "probe-secret-3c9a";

    // Set by one call; a later call in the same process sees it, a call in another app's container must not.
    private static string? s_stash;

    public PlaceholderFunctions(App app)
    {
        Probe = app.Function<string, ContainerProbe>(ProbeContainer,
            new FunctionOptions { Secrets = [Secret.FromDictionary(new Dictionary<string, string?> { ["PROBE_SECRET"] = SecretValue })] }, name: "probe");
        ProbeLimited = app.Function<string, ContainerProbe>(ProbeContainer,
            new FunctionOptions { Cpu = LimitedCpu, Memory = LimitedMemoryMiB }, name: "probe-limited");
        Lifecycle = app.Cls<Lifecycle>();
    }

    /// <summary>The CPU <see cref="ProbeLimited"/>'s function is given.</summary>
    public const double LimitedCpu = 0.5;

    /// <summary>The memory <see cref="ProbeLimited"/>'s function is given, in MiB.</summary>
    public const int LimitedMemoryMiB = 256;

    /// <summary>The cgroup files <see cref="ContainerProbe.Limits"/> reads, under <c>/sys/fs/cgroup</c>.</summary>
    public static readonly string[] LimitFiles =
        ["memory/memory.limit_in_bytes", "memory/memory.memsw.limit_in_bytes", "cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us", "cpu/cpu.shares", "pids/pids.max"];

    /// <summary><see cref="Probe"/> with CPU and memory limits.</summary>
    public Function<string, ContainerProbe> ProbeLimited { get; }

    /// <summary>Stashes its argument in a static field and reports what it sees, including the field's previous value.</summary>
    public Function<string, ContainerProbe> Probe { get; }

    /// <summary>A class whose hooks record the order they ran in.</summary>
    public Cls<Lifecycle> Lifecycle { get; }

    private static ContainerProbe ProbeContainer(string stash)
    {
        var previous = s_stash;
        s_stash = stash;
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry entry in System.Environment.GetEnvironmentVariables())
        {
            environment[(string)entry.Key] = (string?)entry.Value ?? "";
        }
        // The C library's copy, which native code reads, must agree with .NET's.
        var native = GetEnv("PROBE_SECRET");
        // A container's standard input is closed: reading it ends at once.
        var input = Console.In.ReadToEnd();
        var limits = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in LimitFiles)
        {
            var path = Path.Combine("/sys/fs/cgroup", file);
            limits[file] = File.Exists(path) ? File.ReadAllText(path).Trim() : "(none)";
        }
        var (nice, started) = OwnStat();
        return new ContainerProbe(previous, System.Environment.ProcessId, Directory.GetCurrentDirectory(), AppContext.BaseDirectory,
            Assembly.GetEntryAssembly()?.GetName().Name, environment, native == IntPtr.Zero ? null : Marshal.PtrToStringUTF8(native), input,
            System.Environment.MachineName, started, System.Environment.ProcessorCount, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, limits,
            File.ReadAllText("/proc/self/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries),
            nice);
    }

    /// <summary>
    /// Fields 19 and 22 of this process's <c>/proc/self/stat</c>: its nice value, and when it started, in clock ticks
    /// since boot (one per process).
    /// </summary>
    public static (int Nice, long Started) OwnStat()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (int.Parse(fields[16], System.Globalization.CultureInfo.InvariantCulture), long.Parse(fields[19], System.Globalization.CultureInfo.InvariantCulture));
    }

    [LibraryImport("libc", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr GetEnv(string name);
}

/// <summary>A class with a snapshot and a regular enter hook and a parameter, which records what ran, in order.</summary>
public sealed class Lifecycle
{
    private static readonly List<string> s_events = [];

    public Lifecycle() => s_events.Add("constructor");

    [Parameter]
    public string Label { get; set; } = "default";

    [Enter(Snap = true)]
    public void Snapshot() => s_events.Add($"snap-enter:{Label}");

    [Enter]
    public void Load() => s_events.Add($"enter:{Label}");

    [Method]
    public string Events() => string.Join(",", s_events) + $"|pid={System.Environment.ProcessId}";
}
