using Ferry.Worker.Images;
using Ferry.Worker.Runtimes.Runc;
using Microsoft.Extensions.Logging;

namespace Ferry.Worker.Runtimes;

/// <summary>Chooses the container runtime a worker uses.</summary>
public static partial class RuntimeSelector
{
    /// <summary>
    /// <c>runc</c> isolates containers and applies limits; <c>process</c> runs them as plain child processes.
    /// <c>auto</c> picks runc when the worker runs as root with runc, debootstrap, ip and nft installed, and otherwise falls back
    /// to process with one warning, so nobody mistakes a process for an isolated container.
    /// </summary>
    /// <param name="placeholders">How many pre-started placeholder containers to keep; default none.</param>
    public static async Task<IContainerRuntime> SelectAsync(string requested, string dataDir, ILogger logger, string? aptMirror = null, CancellationToken cancellationToken = default,
        Placeholders.PlaceholderOptions? placeholders = null)
    {
        placeholders ??= Placeholders.PlaceholderOptions.Off;
        switch (requested)
        {
            case "process":
                return new ProcessRuntime(dataDir, placeholders, logger);
            case "runc" when !RuncRuntime.IsAvailable(out var reason):
                throw new ArgumentException($"The runc runtime cannot run here: {reason}.");
            case "runc":
                return await RuncAsync(dataDir, logger, aptMirror, placeholders, cancellationToken).ConfigureAwait(false);
            case "auto" when RuncRuntime.IsAvailable(out _):
                return await RuncAsync(dataDir, logger, aptMirror, placeholders, cancellationToken).ConfigureAwait(false);
            case "auto":
                RuncRuntime.IsAvailable(out var why);
                LogNoIsolation(logger, why);
                return new ProcessRuntime(dataDir, placeholders, logger);
            default:
                throw new ArgumentException($"Unknown runtime '{requested}'. Use auto, runc or process.");
        }
    }

    private static async Task<RuncRuntime> RuncAsync(string dataDir, ILogger logger, string? aptMirror, Placeholders.PlaceholderOptions placeholders, CancellationToken cancellationToken)
    {
        var runtime = new RuncRuntime(dataDir, new BaseImage(Path.Combine(dataDir, "images"), aptMirror), message => LogImage(logger, message), logger, placeholders);
        var orphans = await runtime.RemoveOrphansAsync(cancellationToken).ConfigureAwait(false);
        if (orphans > 0)
        {
            LogOrphans(logger, orphans);
        }
        return runtime;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Removed {Count} containers that a previous run of this worker left running.")]
    private static partial void LogOrphans(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Using the process runtime ({Reason}): containers are plain processes, without isolation, images or resource limits.")]
    private static partial void LogNoIsolation(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Message}")]
    private static partial void LogImage(ILogger logger, string message);
}
