using System.Globalization;
using System.Text.Json.Serialization.Metadata;

namespace Ferry.Protocol.Validation;

/// <summary>
/// Checks the wire forms a party is sent before it acts on them. Each <c>Check</c> returns the first problem as a
/// sentence that names the JSON field, such as <c>The field 'functions[0].settings.image.steps[2].args[0]' must be
/// ...</c>, or null when the value is valid. Every form first gets the checks of its structure (no null list items,
/// valid UTF-16, finite numbers), then the rules of its fields.
/// </summary>
public static class WireValidator
{
    private const int ShownLength = 80;
    private static readonly ProtocolJsonContext Json = ProtocolJsonContext.Default;

    private static readonly string[] StepKinds =
    [
        ImageStepKinds.AptInstall, ImageStepKinds.RunCommands, ImageStepKinds.Env,
        ImageStepKinds.Workdir, ImageStepKinds.AddLocal, ImageStepKinds.RunFunction,
    ];

    /// <summary>Checks an app's definition: names, functions' settings and images.</summary>
    public static string? Check(AppDefinition definition) => First(definition, Json.AppDefinition, Definition(definition, ""));

    /// <summary>Checks a request to create an app, and its definition when it carries one.</summary>
    public static string? Check(CreateAppRequest request) => First(request, Json.CreateAppRequest, CreateApp(request));

    /// <summary>Checks a function's settings against <see cref="SettingsLimits"/>.</summary>
    public static string? Check(FunctionSettings settings) => First(settings, Json.FunctionSettings, Settings(settings, ""));

    /// <summary>Checks an image: its base, and each step's kind, arguments, paths and files.</summary>
    public static string? Check(ImageSpec image) => First(image, Json.ImageSpec, Image(image, ""));

    /// <summary>
    /// Checks a pool: its parameters and the settings it overrides. Fields are named from <paramref name="at"/>, such as
    /// <c>pool</c> for the pool of a call; at the top by default.
    /// </summary>
    public static string? Check(PoolSpec pool, string at = "") => First(pool, Json.PoolSpec, Pool(pool, at), at);

    /// <summary>Checks an autoscaler update: counts, the scaledown window and the pool it names.</summary>
    public static string? Check(AutoscalerUpdate update) => First(update, Json.AutoscalerUpdate, Autoscaler(update));

    /// <summary>Checks a build: relative, normal file paths, each once, with their content hashes.</summary>
    public static string? Check(CreateBuildRequest request) => First(request, Json.CreateBuildRequest, Build(request));

    /// <summary>Checks a question about missing blobs: every entry a content hash.</summary>
    public static string? Check(MissingBlobsRequest request) => First(request, Json.MissingBlobsRequest, Hashes(request));

    internal static string Fail(string field, string rule) => $"The field '{field}' {rule}.";

    internal static string Join(string at, string name) => at.Length == 0 ? name : $"{at}.{name}";

    private static string? First<T>(T value, JsonTypeInfo<T> typeInfo, IEnumerable<string> rules, string at = "")
    {
        ArgumentNullException.ThrowIfNull(value);
        // The rules may assume what the structure guarantees, such as lists without null items: they run only after it.
        return WireStructure.Problems(value, typeInfo, at).Concat(rules).FirstOrDefault();
    }

    private static IEnumerable<string> CreateApp(CreateAppRequest request)
    {
        if (string.IsNullOrWhiteSpace(request.Name))
        {
            yield return Fail("name", "must not be empty");
        }
        if (request.Definition is { } definition)
        {
            foreach (var problem in Definition(definition, "definition"))
            {
                yield return problem;
            }
        }
    }

    private static IEnumerable<string> Definition(AppDefinition definition, string at)
    {
        if (string.IsNullOrWhiteSpace(definition.Name))
        {
            yield return Fail(Join(at, "name"), "must not be empty");
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < definition.Functions.Count; i++)
        {
            var function = definition.Functions[i];
            var field = $"{Join(at, "functions")}[{i}]";
            if (string.IsNullOrWhiteSpace(function.Name))
            {
                yield return Fail(Join(field, "name"), "must not be empty");
            }
            else if (!names.Add(function.Name))
            {
                yield return Fail(Join(field, "name"), $"repeats the function name {Show(function.Name)}");
            }
            if (function.ClassName is { } className && string.IsNullOrWhiteSpace(className))
            {
                yield return Fail(Join(field, "className"), "must not be empty when present");
            }
            foreach (var problem in Parameters(function.Parameters, Join(field, "parameters")).Concat(Settings(function.Settings, Join(field, "settings"))))
            {
                yield return problem;
            }
        }
        names.Clear();
        for (var i = 0; i < definition.Entrypoints.Count; i++)
        {
            var entrypoint = definition.Entrypoints[i];
            var field = $"{Join(at, "entrypoints")}[{i}]";
            if (string.IsNullOrWhiteSpace(entrypoint.Name))
            {
                yield return Fail(Join(field, "name"), "must not be empty");
            }
            else if (!names.Add(entrypoint.Name))
            {
                yield return Fail(Join(field, "name"), $"repeats the entrypoint name {Show(entrypoint.Name)}");
            }
            foreach (var problem in Parameters(entrypoint.Parameters, Join(field, "parameters")))
            {
                yield return problem;
            }
        }
    }

    private static IEnumerable<string> Parameters(IReadOnlyList<ParameterDefinition> parameters, string at)
    {
        for (var i = 0; i < parameters.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(parameters[i].Name))
            {
                yield return Fail($"{at}[{i}].name", "must not be empty");
            }
        }
    }

    private static IEnumerable<string> Settings(FunctionSettings settings, string at)
    {
        if (settings.TimeoutSeconds is not (>= SettingsLimits.MinTimeoutSeconds and <= SettingsLimits.MaxTimeoutSeconds))
        {
            yield return Fail(Join(at, "timeoutSeconds"), $"must be between {Show(SettingsLimits.MinTimeoutSeconds)} and {Show(SettingsLimits.MaxTimeoutSeconds)} seconds, not {Show(settings.TimeoutSeconds)}");
        }
        if (settings.Retries is { } retries)
        {
            foreach (var problem in Retries(retries, Join(at, "retries")))
            {
                yield return problem;
            }
        }
        foreach (var problem in Scaling(settings.MinContainers, settings.MaxContainers, settings.BufferContainers, settings.ScaledownWindowSeconds, at))
        {
            yield return problem;
        }
        if (settings.Cpu is { } cpu && cpu is not (>= SettingsLimits.MinCpu and <= SettingsLimits.MaxCpu))
        {
            yield return Fail(Join(at, "cpu"), $"must be between {Show(SettingsLimits.MinCpu)} and {Show(SettingsLimits.MaxCpu)} cores, not {Show(cpu)}");
        }
        if (settings.MemoryMiB is { } memory && memory is not (>= SettingsLimits.MinMemoryMiB and <= SettingsLimits.MaxMemoryMiB))
        {
            yield return Fail(Join(at, "memoryMiB"), $"must be between {SettingsLimits.MinMemoryMiB} and {SettingsLimits.MaxMemoryMiB} MiB, not {memory}");
        }
        var gpus = settings.Gpu ?? [];
        for (var i = 0; i < gpus.Count; i++)
        {
            if (!WireRules.IsGpu(gpus[i]))
            {
                yield return Fail($"{Join(at, "gpu")}[{i}]",
                    $"is not a GPU request ({Show(gpus[i])}); write TYPE or TYPE:COUNT (1 to {SettingsLimits.MaxGpuCount}), where TYPE is one of {string.Join(", ", SettingsLimits.GpuTypes)}");
            }
        }
        if (settings.Schedule is { } schedule && ScheduleTimes.Problem(schedule) is { } badSchedule)
        {
            yield return Fail(Join(at, "schedule"), badSchedule);
        }
        if (settings.Image is { } image)
        {
            foreach (var problem in Image(image, Join(at, "image")))
            {
                yield return problem;
            }
        }
        if (settings.MaxInputs is not (>= 1 and <= SettingsLimits.MaxInputsPerContainer))
        {
            yield return Fail(Join(at, "maxInputs"), $"must be between 1 and {SettingsLimits.MaxInputsPerContainer}, not {settings.MaxInputs}");
        }
        else if (settings.TargetInputs is { } target && (target < 1 || target > settings.MaxInputs))
        {
            yield return Fail(Join(at, "targetInputs"), $"must be between 1 and maxInputs ({settings.MaxInputs}), not {target}");
        }
        if (settings.BatchMaxSize is { } batch && batch is not (>= 1 and <= SettingsLimits.MaxBatchSize))
        {
            yield return Fail(Join(at, "batchMaxSize"), $"must be between 1 and {SettingsLimits.MaxBatchSize}, not {batch}");
        }
        if (settings.BatchWaitMs is { } wait && wait is not (>= 0 and <= SettingsLimits.MaxBatchWaitMs))
        {
            yield return Fail(Join(at, "batchWaitMs"), $"must be between 0 and {SettingsLimits.MaxBatchWaitMs} milliseconds, not {wait}");
        }
        var secrets = settings.Secrets ?? [];
        for (var i = 0; i < secrets.Count; i++)
        {
            if (!ObjectLimits.IsName(secrets[i].Name))
            {
                yield return Fail($"{Join(at, "secrets")}[{i}].name", $"is not a secret name ({Show(secrets[i].Name)}); use 1 to {ObjectLimits.MaxNameLength} letters, digits, '-', '_' or '.'");
            }
            var required = secrets[i].RequiredKeys ?? [];
            for (var k = 0; k < required.Count; k++)
            {
                if (!ObjectLimits.IsEnvKey(required[k]))
                {
                    yield return Fail($"{Join(at, "secrets")}[{i}].requiredKeys[{k}]", $"is not an environment variable name ({Show(required[k])})");
                }
            }
        }
        var volumes = settings.Volumes ?? [];
        var mountedAt = new HashSet<string>(StringComparer.Ordinal);
        var mountedVolumes = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < volumes.Count; i++)
        {
            var where = $"{Join(at, "volumes")}[{i}]";
            if (!ObjectLimits.IsName(volumes[i].Volume))
            {
                yield return Fail(where + ".volume", $"is not a volume name ({Show(volumes[i].Volume)}); use 1 to {ObjectLimits.MaxNameLength} letters, digits, '-', '_' or '.'");
            }
            else if (!mountedVolumes.Add(volumes[i].Volume))
            {
                yield return Fail(where + ".volume", $"mounts the volume '{volumes[i].Volume}' a second time; a volume is mounted at one path");
            }
            if (VolumePaths.MountProblem(volumes[i].Path) is { } problem)
            {
                yield return Fail(where + ".path", problem);
            }
            else if (!mountedAt.Add(volumes[i].Path))
            {
                yield return Fail(where + ".path", $"is already a mount path ({Show(volumes[i].Path)})");
            }
        }
        if (settings.Web is { } web)
        {
            foreach (var problem in Web(web, Join(at, "web")))
            {
                yield return problem;
            }
        }
    }

    private static IEnumerable<string> Web(WebEndpointSpec web, string at)
    {
        if (web.Kind is not (WebEndpointKinds.Function or WebEndpointKinds.AspNet or WebEndpointKinds.Server))
        {
            yield return Fail(Join(at, "kind"), $"must be one of {WebEndpointKinds.Function}, {WebEndpointKinds.AspNet}, {WebEndpointKinds.Server}, not {Show(web.Kind)}");
        }
        if (!WireRules.IsWebLabel(web.Label))
        {
            yield return Fail(Join(at, "label"), $"must be 1 to 63 lowercase letters, digits and '-', starting with a letter and not ending with '-', not {Show(web.Label)}");
        }
        if (web.Port is { } port && port is not (>= 1 and <= 65535))
        {
            yield return Fail(Join(at, "port"), $"must be between 1 and 65535, not {port}");
        }
        if (web.StartupTimeoutSeconds is not (> 0 and <= SettingsLimits.MaxTimeoutSeconds))
        {
            yield return Fail(Join(at, "startupTimeoutSeconds"), $"must be above 0 and at most {Show(SettingsLimits.MaxTimeoutSeconds)} seconds, not {Show(web.StartupTimeoutSeconds)}");
        }
        if (web.RequestTimeoutSeconds is not (> 0 and <= SettingsLimits.MaxTimeoutSeconds))
        {
            yield return Fail(Join(at, "requestTimeoutSeconds"), $"must be above 0 and at most {Show(SettingsLimits.MaxTimeoutSeconds)} seconds, not {Show(web.RequestTimeoutSeconds)}");
        }
    }

    private static IEnumerable<string> Retries(RetryPolicy retries, string at)
    {
        if (retries.MaxRetries is not (>= 0 and <= SettingsLimits.MaxRetries))
        {
            yield return Fail(Join(at, "maxRetries"), $"must be between 0 and {SettingsLimits.MaxRetries}, not {retries.MaxRetries}");
        }
        if (retries.BackoffCoefficient is not (>= SettingsLimits.MinBackoffCoefficient and <= SettingsLimits.MaxBackoffCoefficient))
        {
            yield return Fail(Join(at, "backoffCoefficient"), $"must be between {Show(SettingsLimits.MinBackoffCoefficient)} and {Show(SettingsLimits.MaxBackoffCoefficient)}, not {Show(retries.BackoffCoefficient)}");
        }
        if (retries.InitialDelaySeconds is not (>= 0 and <= SettingsLimits.MaxRetryInitialDelaySeconds))
        {
            yield return Fail(Join(at, "initialDelaySeconds"), $"must be between 0 and {Show(SettingsLimits.MaxRetryInitialDelaySeconds)} seconds, not {Show(retries.InitialDelaySeconds)}");
        }
        if (retries.MaxDelaySeconds is not (>= SettingsLimits.MinRetryMaxDelaySeconds and <= SettingsLimits.MaxRetryMaxDelaySeconds))
        {
            yield return Fail(Join(at, "maxDelaySeconds"), $"must be between {Show(SettingsLimits.MinRetryMaxDelaySeconds)} and {Show(SettingsLimits.MaxRetryMaxDelaySeconds)} seconds, not {Show(retries.MaxDelaySeconds)}");
        }
    }

    /// <summary>The autoscaler's fields, shared by settings (every field present) and updates (any may be absent).</summary>
    private static IEnumerable<string> Scaling(int? min, int? max, int? buffer, double? window, string at)
    {
        if (min is < 0)
        {
            yield return Fail(Join(at, "minContainers"), $"must not be negative, not {min}");
        }
        if (max is < 1)
        {
            yield return Fail(Join(at, "maxContainers"), $"must be at least 1, not {max}");
        }
        if (min is { } least && max is { } most && least > most)
        {
            yield return Fail(Join(at, "minContainers"), $"({least}) must not exceed maxContainers ({most})");
        }
        if (buffer is < 0)
        {
            yield return Fail(Join(at, "bufferContainers"), $"must not be negative, not {buffer}");
        }
        if (window is { } seconds && seconds is not (> 0 and <= SettingsLimits.MaxScaledownWindowSeconds))
        {
            yield return Fail(Join(at, "scaledownWindowSeconds"), $"must be more than 0 and at most {Show(SettingsLimits.MaxScaledownWindowSeconds)} seconds, not {Show(seconds)}");
        }
    }

    private static IEnumerable<string> Image(ImageSpec image, string at)
    {
        if (image.Base != ImageBases.DebianSlim)
        {
            yield return Fail(Join(at, "base"), $"must be {Show(ImageBases.DebianSlim)}, not {Show(image.Base)}");
        }
        int? mounted = null;
        for (var i = 0; i < image.Steps.Count; i++)
        {
            var step = image.Steps[i];
            var field = $"{Join(at, "steps")}[{i}]";
            var problem = Step(step, field).FirstOrDefault();
            if (problem is not null)
            {
                yield return problem;
                yield break;
            }
            var isMount = step.Kind == ImageStepKinds.AddLocal && step.Args[2] == "mount";
            if (!isMount && mounted is { } first)
            {
                yield return Fail(field, $"({step.Kind}) must not follow the mounted files of steps[{first}]: mounted files arrive only when a container starts");
            }
            mounted ??= isMount ? i : null;
        }
    }

    private static IEnumerable<string> Step(ImageStep step, string at)
    {
        if (!StepKinds.Contains(step.Kind))
        {
            yield return Fail(Join(at, "kind"), $"must be one of {string.Join(", ", StepKinds)}, not {Show(step.Kind)}");
            yield break;
        }
        var args = step.Args;
        var argsAt = Join(at, "args");
        var (least, most) = step.Kind switch
        {
            ImageStepKinds.AptInstall or ImageStepKinds.RunCommands => (1, int.MaxValue),
            ImageStepKinds.Env => (0, int.MaxValue),
            ImageStepKinds.Workdir => (1, 1),
            ImageStepKinds.AddLocal => (3, 3),
            _ => (2, 3),
        };
        if (args.Count < least || args.Count > most)
        {
            var count = least == most ? $"{least}" : most == int.MaxValue ? $"at least {least}" : $"{least} to {most}";
            yield return Fail(argsAt, $"of a {step.Kind} step must hold {count} arguments, not {args.Count}");
            yield break;
        }
        if (step.Files is not null && step.Kind != ImageStepKinds.AddLocal)
        {
            yield return Fail(Join(at, "files"), $"belongs only to {ImageStepKinds.AddLocal} steps");
        }
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            var rule = step.Kind switch
            {
                ImageStepKinds.AptInstall when !WireRules.IsAptPackage(arg) => "must be a Debian package name such as \"jq\" or \"ffmpeg=7:5.1.6-0+deb12u1\"",
                ImageStepKinds.RunCommands when string.IsNullOrWhiteSpace(arg) => "must not be an empty command",
                ImageStepKinds.Env when arg.IndexOf('=', StringComparison.Ordinal) is var equals && (equals < 0 || !WireRules.IsEnvName(arg[..equals])) =>
                    "must be NAME=value, where NAME has letters, digits and underscores and does not start with a digit",
                ImageStepKinds.Workdir or ImageStepKinds.AddLocal when i == 0 && !WireRules.IsContainerPath(arg) =>
                    "must be an absolute path in the container without empty, '.' or '..' segments, such as /root/data",
                ImageStepKinds.AddLocal when i == 1 && arg is not ("file" or "dir") => "must be \"file\" or \"dir\"",
                ImageStepKinds.AddLocal when i == 2 && arg is not ("copy" or "mount") => "must be \"copy\" or \"mount\"",
                ImageStepKinds.RunFunction when i < 2 && string.IsNullOrWhiteSpace(arg) => "must not be empty",
                _ => null,
            };
            if (rule is not null)
            {
                yield return Fail($"{argsAt}[{i}]", $"{rule}, not {Show(arg)}");
            }
        }
        if (step.Kind == ImageStepKinds.AddLocal)
        {
            foreach (var problem in Files(step, Join(at, "files")))
            {
                yield return problem;
            }
        }
    }

    private static IEnumerable<string> Files(ImageStep step, string at)
    {
        if (step.Files is not { } files)
        {
            yield return Fail(at, "must list the files the step adds");
            yield break;
        }
        if (step.Args[1] == "file" && files.Count != 1)
        {
            yield return Fail(at, $"of a single file must hold 1 file, not {files.Count}");
        }
        foreach (var problem in BuildFiles(files, at))
        {
            yield return problem;
        }
    }

    private static IEnumerable<string> BuildFiles(IReadOnlyList<BuildFile> files, string at)
    {
        var paths = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < files.Count; i++)
        {
            var file = files[i];
            var field = $"{at}[{i}]";
            if (!WireRules.IsRelativePath(file.Path))
            {
                yield return Fail(Join(field, "path"), $"must be a relative path with '/' separators and without empty, '.' or '..' segments, not {Show(file.Path)}");
            }
            else if (!paths.Add(file.Path))
            {
                yield return Fail(Join(field, "path"), $"repeats the path {Show(file.Path)}");
            }
            if (!WireRules.IsSha256(file.Hash))
            {
                yield return Fail(Join(field, "hash"), $"must be a lower-case SHA-256 hash, not {Show(file.Hash)}");
            }
            if (file.Size < 0)
            {
                yield return Fail(Join(field, "size"), $"must not be negative, not {file.Size}");
            }
        }
    }

    private static IEnumerable<string> Pool(PoolSpec pool, string at) =>
        pool.Overrides is { } overrides ? Settings(overrides, Join(at, "overrides")) : [];

    private static IEnumerable<string> Autoscaler(AutoscalerUpdate update) =>
        Scaling(update.MinContainers, update.MaxContainers, update.BufferContainers, update.ScaledownWindowSeconds, "")
            .Concat(update.Pool is { } pool ? Pool(pool, "pool") : []);

    private static IEnumerable<string> Build(CreateBuildRequest request)
    {
        if (!WireRules.IsRelativePath(request.EntryAssembly))
        {
            yield return Fail("entryAssembly", $"must be a relative path without empty, '.' or '..' segments, not {Show(request.EntryAssembly)}");
        }
        foreach (var problem in BuildFiles(request.Files, "files"))
        {
            yield return problem;
        }
    }

    private static IEnumerable<string> Hashes(MissingBlobsRequest request)
    {
        for (var i = 0; i < request.Hashes.Count; i++)
        {
            if (!WireRules.IsSha256(request.Hashes[i]))
            {
                yield return Fail($"hashes[{i}]", $"must be a lower-case SHA-256 hash, not {Show(request.Hashes[i])}");
            }
        }
    }

    private static string Show(double value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>A value quoted for a message, cut short so that a huge value cannot make a huge answer.</summary>
    private static string Show(string value)
    {
        if (value.Length <= ShownLength)
        {
            return $"'{value}'";
        }
        var cut = char.IsHighSurrogate(value[ShownLength - 1]) ? ShownLength - 1 : ShownLength;
        return $"'{value[..cut]}...' ({value.Length} characters)";
    }
}
