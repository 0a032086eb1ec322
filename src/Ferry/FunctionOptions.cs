using Ferry.Protocol;
using Ferry.Protocol.Validation;

namespace Ferry;

/// <summary>
/// How a function runs: its resources, limits and scaling. Every property is optional, and its default is the one
/// documented on it.
/// </summary>
public sealed record FunctionOptions
{
    /// <summary>The longest one attempt of one input may run. Default 300 seconds; 1 second to 24 hours.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>How failed inputs are retried. Default: no retries. An <c>int</c> converts to <see cref="Ferry.Retries"/>.</summary>
    public Retries? Retries { get; init; }

    /// <summary>Containers kept running even with no inputs. Default 0.</summary>
    public int? MinContainers { get; init; }

    /// <summary>The most containers that may run at once. Default: no limit.</summary>
    public int? MaxContainers { get; init; }

    /// <summary>Idle containers kept in addition while the function is busy. Default 0.</summary>
    public int? BufferContainers { get; init; }

    /// <summary>How long a container may sit idle before it is stopped. Default 60 seconds; more than 0, at most 24 hours.</summary>
    public TimeSpan? ScaledownWindow { get; init; }

    /// <summary>CPU cores reserved and enforced as a limit, such as 0.5 or 2; 0.125 to 64. Default: no limit.</summary>
    public double? Cpu { get; init; }

    /// <summary>Memory in MiB, 32 to 1048576; a container that exceeds it is killed. Default: no limit.</summary>
    public int? Memory { get; init; }

    /// <summary>
    /// The GPU: <c>"H100"</c>, <c>"A100:2"</c> (type and count), or several separated by commas as a fallback list
    /// tried in order. Use <see cref="Gpus"/> for a list. Default: none.
    /// </summary>
    public string? Gpu { get; init; }

    /// <summary>A GPU fallback list tried in order, each entry as in <see cref="Gpu"/>.</summary>
    public IReadOnlyList<string>? Gpus { get; init; }

    /// <summary>The container image. Default: the app's image, or <see cref="Image.DebianSlim"/>.</summary>
    public Image? Image { get; init; }

    /// <summary>Inputs one container runs at once (Modal's <c>@concurrent(max_inputs)</c>). Default 1; at most 1000.</summary>
    public int? MaxInputs { get; init; }

    /// <summary>Inputs per container the autoscaler aims for; containers burst up to <see cref="MaxInputs"/>. Default: <see cref="MaxInputs"/>.</summary>
    public int? TargetInputs { get; init; }

    /// <summary>The most inputs a batched method receives in one call (Modal's <c>@batched</c>). Default: no batching.</summary>
    public int? BatchMaxSize { get; init; }

    /// <summary>How long a container waits to fill a batch before it calls the method with what it has.</summary>
    public TimeSpan? BatchWait { get; init; }

    /// <summary>
    /// Start containers from a memory snapshot taken after the <c>[Enter(Snap = true)]</c> hooks, where the worker's
    /// host supports checkpoints (CRIU). Elsewhere containers cold-start and the worker says so once. Default false.
    /// </summary>
    public bool? EnableMemorySnapshot { get; init; }

    /// <summary>
    /// Secrets whose keys become environment variables in the function's containers, later ones overriding earlier
    /// ones and the app's (<see cref="App(string?, Image?, FerryConnection?, IReadOnlyList{Secret}?)"/>). Default: none.
    /// </summary>
    public IReadOnlyList<Secret>? Secrets { get; init; }

    /// <summary>
    /// Volumes mounted in the function's containers, by the absolute path each is mounted at:
    /// <c>Volumes = new Dictionary&lt;string, Volume&gt; { ["/data"] = volume }</c>. In a container, find the files
    /// at <see cref="Volume.Path"/>: the mount path itself on the runc runtime, a worker directory on the process
    /// runtime. A volume is mounted at one path. Default: none.
    /// </summary>
    public IReadOnlyDictionary<string, Volume>? Volumes { get; init; }

    /// <summary>
    /// When the function runs on its own once the app is deployed: <c>new Period(TimeSpan.FromHours(1))</c> or
    /// <c>new Cron("0 9 * * 1-5", "Europe/Berlin")</c>. Such a function takes no arguments. Default: never.
    /// </summary>
    public Schedule? Schedule { get; init; }

    internal FunctionSettings ToSettings(Image? appImage)
    {
        var gpus = Gpus ?? (Gpu is null ? null : Gpu.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
        return new FunctionSettings
        {
            TimeoutSeconds = (Timeout ?? TimeSpan.FromSeconds(300)).TotalSeconds,
            Retries = Retries?.ToPolicy(),
            MinContainers = MinContainers ?? 0,
            MaxContainers = MaxContainers,
            BufferContainers = BufferContainers ?? 0,
            ScaledownWindowSeconds = (ScaledownWindow ?? TimeSpan.FromSeconds(60)).TotalSeconds,
            Cpu = Cpu,
            MemoryMiB = Memory,
            Gpu = gpus,
            Image = (Image ?? appImage)?.ToSpec(),
            MaxInputs = MaxInputs ?? 1,
            TargetInputs = TargetInputs,
            BatchMaxSize = BatchMaxSize,
            BatchWaitMs = BatchWait is { } wait ? (int)wait.TotalMilliseconds : null,
            EnableMemorySnapshot = EnableMemorySnapshot ?? false,
            Secrets = Secrets is { Count: > 0 } secrets ? [.. secrets.Select(s => s.ToRef())] : null,
            Volumes = Volumes is { Count: > 0 } volumes ? [.. volumes.OrderBy(v => v.Key, StringComparer.Ordinal).Select(v => new VolumeMount(v.Key, v.Value.Name, v.Value.CreatesIfMissing))] : null,
            Schedule = Schedule?.ToSpec(),
        };
    }

    /// <summary>These options with every option that <paramref name="overrides"/> sets taking its place.</summary>
    internal FunctionOptions Merge(FunctionOptions overrides) => new()
    {
        Timeout = overrides.Timeout ?? Timeout,
        Retries = overrides.Retries ?? Retries,
        MinContainers = overrides.MinContainers ?? MinContainers,
        MaxContainers = overrides.MaxContainers ?? MaxContainers,
        BufferContainers = overrides.BufferContainers ?? BufferContainers,
        ScaledownWindow = overrides.ScaledownWindow ?? ScaledownWindow,
        Cpu = overrides.Cpu ?? Cpu,
        Memory = overrides.Memory ?? Memory,
        Gpu = overrides.Gpu ?? (overrides.Gpus is null ? Gpu : null),
        Gpus = overrides.Gpus ?? (overrides.Gpu is null ? Gpus : null),
        Image = overrides.Image ?? Image,
        MaxInputs = overrides.MaxInputs ?? MaxInputs,
        TargetInputs = overrides.TargetInputs ?? (overrides.MaxInputs is null ? TargetInputs : null),
        BatchMaxSize = overrides.BatchMaxSize ?? BatchMaxSize,
        BatchWait = overrides.BatchWait ?? BatchWait,
        EnableMemorySnapshot = overrides.EnableMemorySnapshot ?? EnableMemorySnapshot,
        Secrets = overrides.Secrets ?? Secrets,
        Volumes = overrides.Volumes ?? Volumes,
        Schedule = overrides.Schedule ?? Schedule,
    };

    internal void Validate(string function)
    {
        var timeout = Timeout ?? TimeSpan.FromSeconds(300);
        if (timeout < TimeSpan.FromSeconds(SettingsLimits.MinTimeoutSeconds) || timeout > TimeSpan.FromSeconds(SettingsLimits.MaxTimeoutSeconds))
        {
            throw new InvalidRequestException($"{function}: Timeout must be between 1 second and 24 hours, not {timeout}.");
        }
        if (MinContainers < 0 || BufferContainers < 0)
        {
            throw new InvalidRequestException($"{function}: MinContainers and BufferContainers cannot be negative.");
        }
        if (MaxContainers is < 1)
        {
            throw new InvalidRequestException($"{function}: MaxContainers must be at least 1, not {MaxContainers}.");
        }
        if (MaxContainers is { } max && MinContainers is { } min && min > max)
        {
            throw new InvalidRequestException($"{function}: MinContainers ({min}) cannot exceed MaxContainers ({max}).");
        }
        if (ScaledownWindow is { } window && (window <= TimeSpan.Zero || window > TimeSpan.FromSeconds(SettingsLimits.MaxScaledownWindowSeconds)))
        {
            throw new InvalidRequestException($"{function}: ScaledownWindow must be positive and at most 24 hours, not {window}.");
        }
        if (Cpu is { } cpu && cpu is not (>= SettingsLimits.MinCpu and <= SettingsLimits.MaxCpu))
        {
            throw new InvalidRequestException($"{function}: Cpu must be between 0.125 and 64 cores, not {cpu}.");
        }
        if (Memory is { } memory && memory is not (>= SettingsLimits.MinMemoryMiB and <= SettingsLimits.MaxMemoryMiB))
        {
            throw new InvalidRequestException($"{function}: Memory must be between 32 and 1048576 MiB, not {memory}.");
        }
        if (MaxInputs is < 1 or > SettingsLimits.MaxInputsPerContainer)
        {
            throw new InvalidRequestException($"{function}: MaxInputs must be between 1 and 1000, not {MaxInputs}.");
        }
        if (TargetInputs is { } target && (target < 1 || target > (MaxInputs ?? 1)))
        {
            throw new InvalidRequestException($"{function}: TargetInputs must be between 1 and MaxInputs ({MaxInputs ?? 1}), not {target}.");
        }
        if (BatchMaxSize is < 1 or > SettingsLimits.MaxBatchSize)
        {
            throw new InvalidRequestException($"{function}: BatchMaxSize must be between 1 and 1000, not {BatchMaxSize}.");
        }
        if (BatchWait is { } batchWait && (batchWait < TimeSpan.Zero || batchWait > TimeSpan.FromMilliseconds(SettingsLimits.MaxBatchWaitMs)))
        {
            throw new InvalidRequestException($"{function}: BatchWait must be between 0 and 10 minutes, not {batchWait}.");
        }
        foreach (var gpu in Gpus ?? (Gpu is null ? [] : Gpu.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)))
        {
            if (!WireRules.IsGpu(gpu))
            {
                throw new InvalidRequestException(
                    $"{function}: '{gpu}' is not a GPU request. Write TYPE or TYPE:COUNT (1 to {SettingsLimits.MaxGpuCount}), where TYPE is one of {string.Join(", ", SettingsLimits.GpuTypes)}; for example \"H100\", \"A100-80GB:2\" or a list of them tried in order.");
            }
        }
        var mounted = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (path, volume) in Volumes ?? new Dictionary<string, Volume>())
        {
            if (volume is null)
            {
                throw new InvalidRequestException($"{function}: the volume mounted at '{path}' is null.");
            }
            if (VolumePaths.MountProblem(path) is { } problem)
            {
                throw new InvalidRequestException($"{function}: the mount path of volume '{volume.Name}' {problem}.");
            }
            if (!mounted.Add(volume.Name))
            {
                throw new InvalidRequestException($"{function}: volume '{volume.Name}' is mounted at two paths; mount it at one.");
            }
        }
        Retries?.Validate(function);
    }
}

/// <summary>
/// The retry policy of a function. Retry <c>k</c> waits <c>min(InitialDelay * BackoffCoefficient^(k-1), MaxDelay)</c>.
/// </summary>
/// <param name="MaxRetries">Retries after the first attempt, 0 to 10.</param>
public sealed record Retries(int MaxRetries)
{
    /// <summary>The growth of the delay per retry, 1 to 10. Default 2.</summary>
    public double BackoffCoefficient { get; init; } = 2.0;

    /// <summary>The delay before the first retry, 0 to 60 seconds. Default 1 second.</summary>
    public TimeSpan InitialDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest delay, 1 to 60 seconds. Default 60 seconds.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>A plain count means that many retries, one second apart, as in Modal.</summary>
    public static implicit operator Retries(int maxRetries) => new(maxRetries) { BackoffCoefficient = 1.0 };

    internal RetryPolicy ToPolicy() => new(MaxRetries, BackoffCoefficient, InitialDelay.TotalSeconds, MaxDelay.TotalSeconds);

    internal void Validate(string function)
    {
        if (MaxRetries is < 0 or > SettingsLimits.MaxRetries)
        {
            throw new InvalidRequestException($"{function}: Retries.MaxRetries must be between 0 and 10, not {MaxRetries}.");
        }
        if (BackoffCoefficient is not (>= SettingsLimits.MinBackoffCoefficient and <= SettingsLimits.MaxBackoffCoefficient))
        {
            throw new InvalidRequestException($"{function}: Retries.BackoffCoefficient must be between 1 and 10, not {BackoffCoefficient}.");
        }
        if (InitialDelay < TimeSpan.Zero || InitialDelay > TimeSpan.FromSeconds(SettingsLimits.MaxRetryInitialDelaySeconds))
        {
            throw new InvalidRequestException($"{function}: Retries.InitialDelay must be between 0 and 60 seconds, not {InitialDelay}.");
        }
        if (MaxDelay < TimeSpan.FromSeconds(SettingsLimits.MinRetryMaxDelaySeconds) || MaxDelay > TimeSpan.FromSeconds(SettingsLimits.MaxRetryMaxDelaySeconds))
        {
            throw new InvalidRequestException($"{function}: Retries.MaxDelay must be between 1 and 60 seconds, not {MaxDelay}.");
        }
    }
}
