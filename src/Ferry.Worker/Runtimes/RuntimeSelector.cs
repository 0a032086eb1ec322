using Microsoft.Extensions.Logging;

namespace Ferry.Worker.Runtimes;

/// <summary>Chooses the container runtime a worker uses.</summary>
public static partial class RuntimeSelector
{
    /// <summary>
    /// <c>process</c> runs containers as plain child processes. <c>auto</c> is the same until the runc runtime lands;
    /// the choice is logged once so nobody mistakes a process for an isolated container.
    /// </summary>
    public static IContainerRuntime Select(string requested, string dataDir, ILogger logger)
    {
        switch (requested)
        {
            case "process":
                return new ProcessRuntime();
            case "auto":
                LogNoIsolation(logger);
                return new ProcessRuntime();
            default:
                throw new ArgumentException($"Unknown runtime '{requested}'. Use auto or process.");
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Using the process runtime: containers are plain processes, without isolation, images or resource limits.")]
    private static partial void LogNoIsolation(ILogger logger);
}
