namespace Ferry.Protocol.Validation;

/// <summary>
/// The accepted ranges of a function's settings. The SDK checks its options against them when a function is defined,
/// and the control plane checks every definition, pool override and autoscaler update it is sent against them, so the
/// two cannot disagree about what is valid.
/// </summary>
public static class SettingsLimits
{
    /// <summary>The shortest timeout of one attempt: 1 second.</summary>
    public const double MinTimeoutSeconds = 1;

    /// <summary>The longest timeout of one attempt: 24 hours.</summary>
    public const double MaxTimeoutSeconds = 24 * 60 * 60;

    /// <summary>The fewest CPU cores a function may ask for.</summary>
    public const double MinCpu = 0.125;

    /// <summary>The most CPU cores a function may ask for.</summary>
    public const double MaxCpu = 64;

    /// <summary>The least memory a function may ask for, in MiB.</summary>
    public const int MinMemoryMiB = 32;

    /// <summary>The most memory a function may ask for, in MiB (1 TiB).</summary>
    public const int MaxMemoryMiB = 1024 * 1024;

    /// <summary>The most inputs one container may run at once.</summary>
    public const int MaxInputsPerContainer = 1000;

    /// <summary>The most inputs one batch may hold.</summary>
    public const int MaxBatchSize = 1000;

    /// <summary>The longest a container may wait to fill a batch: 10 minutes, in milliseconds.</summary>
    public const int MaxBatchWaitMs = 10 * 60 * 1000;

    /// <summary>The most retries of one input after its first attempt.</summary>
    public const int MaxRetries = 10;

    /// <summary>The least growth of the retry delay per retry.</summary>
    public const double MinBackoffCoefficient = 1;

    /// <summary>The most growth of the retry delay per retry.</summary>
    public const double MaxBackoffCoefficient = 10;

    /// <summary>The longest delay before the first retry, in seconds (the shortest is 0).</summary>
    public const double MaxRetryInitialDelaySeconds = 60;

    /// <summary>The least value of the retry delay's cap, in seconds.</summary>
    public const double MinRetryMaxDelaySeconds = 1;

    /// <summary>The greatest value of the retry delay's cap, in seconds.</summary>
    public const double MaxRetryMaxDelaySeconds = 60;

    /// <summary>The longest an idle container may be kept: 24 hours, in seconds. The window must also be positive.</summary>
    public const double MaxScaledownWindowSeconds = 24 * 60 * 60;

    /// <summary>The most GPUs of one type one container may ask for.</summary>
    public const int MaxGpuCount = 8;

    /// <summary>The GPU types a request may name, matched without regard to case.</summary>
    public static IReadOnlyList<string> GpuTypes { get; } =
        ["B200", "H200", "H100", "A100", "A100-40GB", "A100-80GB", "L40S", "L4", "A10G", "A10", "T4", "ANY"];
}
