using Ferry.Protocol;

namespace Ferry.Worker;

/// <summary>How a worker runs and what it offers.</summary>
public sealed record WorkerOptions
{
    /// <summary>The control plane to serve.</summary>
    public required Uri ServerUrl { get; init; }

    /// <summary>The worker join token (<c>ferry token create --kind worker</c>); the worker's identity is bound to it.</summary>
    public required string Token { get; init; }

    /// <summary>The SHA-256 fingerprint of the server's self-signed certificate, when it has one.</summary>
    public string? ServerFingerprint { get; init; }

    /// <summary>Where builds and container state are kept.</summary>
    public required string DataDir { get; init; }

    /// <summary>A stable id; the same id after a restart lets the control plane drop this worker's old containers.</summary>
    public string WorkerId { get; init; } = "wk-" + Environment.MachineName.ToLowerInvariant();

    public string Name { get; init; } = Environment.MachineName;

    /// <summary>The most containers this worker runs at once.</summary>
    public int MaxContainers { get; init; } = 16;

    /// <summary>CPU cores offered to containers; defaults to the host's count.</summary>
    public double? Cpu { get; init; }

    /// <summary>Memory offered to containers; defaults to the host's total.</summary>
    public long? MemoryMiB { get; init; }

    /// <summary>GPUs offered; null means discover them with nvidia-smi.</summary>
    public IReadOnlyList<GpuDevice>? Gpus { get; init; }

    /// <summary>
    /// The control plane's blob directory, when this worker runs on the same machine as the control plane and can read
    /// its data dir (the worker <c>ferry server</c> starts sets it); null otherwise, the default. Volume contents are
    /// then hard-linked from there into the worker's cache, where the filesystem allows, instead of downloaded: the
    /// control plane checked each against its hash when it was uploaded, and never changes a stored blob.
    /// </summary>
    public string? ServerBlobDir { get; init; }

    /// <summary><c>auto</c>, <c>process</c> or <c>runc</c>.</summary>
    public string Runtime { get; init; } = "auto";
}
