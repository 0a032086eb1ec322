using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace Ferry.Worker.Runtimes.Placeholders;

/// <summary>
/// The placeholder program and the runtime settings it starts with. The program ships beside the worker; it is copied
/// with the Ferry assemblies it preloads into a directory of its own, so that its process sees only those (a .NET
/// program without a deps file loads what lies beside it). A placeholder kind is one set of runtime settings (a
/// program's <c>runtimeOptions</c>: frameworks and the properties read when the runtime starts), since those cannot be
/// changed once a process runs.
/// </summary>
internal sealed partial class PlaceholderFiles
{
    public const string ProgramName = "Ferry.Placeholder.dll";
    private const string DepsName = "Ferry.Placeholder.deps.json";
    private readonly string _dir;
    private readonly Lock _gate = new();

    private PlaceholderFiles(string dir) => _dir = dir;

    /// <summary>The directory holding the program and its assemblies.</summary>
    public string Directory => _dir;

    /// <summary>The program's path.</summary>
    public string Program => Path.Combine(_dir, ProgramName);

    /// <summary>
    /// Copies the placeholder program from beside the worker into <paramref name="dataDir"/>; null when it is not there
    /// (a worker built without it), so cold starts launch new containers, and the reason is logged as a warning.
    /// </summary>
    public static PlaceholderFiles? Prepare(string dataDir, ILogger? logger)
    {
        var files = Prepare(dataDir, out var missing);
        if (files is null && logger is not null)
        {
            LogNoPlaceholders(logger, missing!);
        }
        return files;
    }

    private static PlaceholderFiles? Prepare(string dataDir, out string? missing)
    {
        // The program ships in the directory of the worker's host program (the CLI, a test or the benchmark); not
        // Assembly.Location, which is empty in a single-file program.
        var source = AppContext.BaseDirectory;
        List<string> files;
        try
        {
            // The deps file lists the program's assemblies; with it beside them, the process loads exactly those.
            files = [DepsName, .. RuntimeAssemblies(File.ReadAllText(Path.Combine(source, DepsName)))];
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            missing = $"{DepsName} beside the worker in {source} cannot be read ({e.Message})";
            return null;
        }
        missing = files.FirstOrDefault(a => !File.Exists(Path.Combine(source, a)));
        if (missing is not null)
        {
            missing = $"{missing} is not beside the worker in {source}";
            return null;
        }
        var dir = Path.Combine(dataDir, "placeholder");
        System.IO.Directory.CreateDirectory(dir);
        foreach (var file in files)
        {
            File.Copy(Path.Combine(source, file), Path.Combine(dir, file), overwrite: true);
        }
        return new PlaceholderFiles(dir);
    }

    /// <summary>The file names of the runtime assemblies a deps file lists, which an application's directory holds.</summary>
    private static IEnumerable<string> RuntimeAssemblies(string depsJson)
    {
        var targets = JsonNode.Parse(depsJson)?["targets"]?.AsObject() ?? throw new JsonException("no targets");
        foreach (var (_, target) in targets)
        {
            foreach (var (_, library) in target?.AsObject() ?? [])
            {
                foreach (var (path, _) in library?["runtime"]?.AsObject() ?? [])
                {
                    yield return Path.GetFileName(path);
                }
            }
        }
    }

    /// <summary>
    /// The kind of the default placeholder: the runtime settings of the program Ferry's templates build (the
    /// placeholder program's own), which the pool keeps ready from the start.
    /// </summary>
    public static string? DefaultRuntimeConfig()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Ferry.Placeholder.runtimeconfig.json");
        return File.Exists(path) ? File.ReadAllText(path) : null;
    }

    /// <summary>
    /// The canonical text of a runtimeconfig.json's <c>runtimeOptions</c> (properties sorted), equal for programs the
    /// same placeholder can run; null when the file is missing or unreadable.
    /// </summary>
    public static string? RuntimeOptionsKey(string runtimeConfigJson)
    {
        try
        {
            return JsonNode.Parse(runtimeConfigJson)?["runtimeOptions"] is JsonObject options ? Canonical(options).ToJsonString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Whether a placeholder started with the runtime options <paramref name="hostKey"/> can run a program whose own are
    /// <paramref name="programKey"/> (both from <see cref="RuntimeOptionsKey"/>): the same options, except that the
    /// placeholder may have shared frameworks the program does not use (each one the program uses at the same version:
    /// its own assemblies still resolve from its build first), and that the settings every container's environment
    /// gives (<see cref="WorkerAgent.ContainerRuntimeSettings"/>: tiered PGO) do not count, since they win over the file.
    /// </summary>
    public static bool CanHost(string hostKey, string programKey)
    {
        if (hostKey == programKey)
        {
            return true;
        }
        try
        {
            if (Comparable(hostKey) is not var (hostRest, hostFrameworks) || Comparable(programKey) is not var (programRest, programFrameworks))
            {
                return false;
            }
            return hostRest == programRest && programFrameworks.All(hostFrameworks.Contains);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>The runtime options without their frameworks and the environment's settings, and the frameworks apart.</summary>
    private static (string Options, HashSet<string> Frameworks)? Comparable(string key)
    {
        if (JsonNode.Parse(key) is not JsonObject options)
        {
            return null;
        }
        var frameworks = new HashSet<string>(StringComparer.Ordinal);
        if (options["framework"] is JsonObject single)
        {
            frameworks.Add(single.ToJsonString());
        }
        foreach (var framework in options["frameworks"] as JsonArray ?? [])
        {
            frameworks.Add(framework?.ToJsonString() ?? "null");
        }
        options.Remove("framework");
        options.Remove("frameworks");
        if (options["configProperties"] is JsonObject properties)
        {
            properties.Remove(TieredPgoProperty);
        }
        return (options.ToJsonString(), frameworks);
    }

    /// <summary>The runtimeconfig property that <c>DOTNET_TieredPGO</c>, which every container gets, overrides.</summary>
    private const string TieredPgoProperty = "System.Runtime.TieredPGO";

    /// <summary>The runtimeconfig.json beside <paramref name="entryAssembly"/>, or null when it has none.</summary>
    public static string? ReadRuntimeConfig(string buildDir, string entryAssembly)
    {
        var path = Path.Combine(buildDir, Path.ChangeExtension(entryAssembly, ".runtimeconfig.json"));
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Writes (once) the runtimeconfig.json a placeholder of kind <paramref name="key"/> starts with; returns its path.</summary>
    public string RuntimeConfigFor(string key)
    {
        var path = Path.Combine(_dir, RuntimeConfigName(key));
        lock (_gate)
        {
            if (!File.Exists(path))
            {
                File.WriteAllText(path + ".tmp", "{\"runtimeOptions\":" + key + "}");
                File.Move(path + ".tmp", path, overwrite: true);
            }
        }
        return path;
    }

    /// <summary>The file name of the runtimeconfig.json a placeholder of kind <paramref name="key"/> starts with.</summary>
    internal static string RuntimeConfigName(string key) =>
        $"kind-{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)))[..16]}.runtimeconfig.json";

    private static JsonNode Canonical(JsonNode node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, p.Value is null ? null : Canonical(p.Value)))),
        JsonArray a => new JsonArray([.. a.Select(v => v is null ? null : Canonical(v))]),
        _ => node.DeepClone(),
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "Placeholders are off: {Reason}.")]
    private static partial void LogNoPlaceholders(ILogger logger, string reason);
}
