using System.Globalization;

namespace Ferry.Worker.Runtimes.Placeholders;

/// <summary>
/// How many pre-started placeholder containers a worker keeps. A placeholder has the runtime and Ferry loaded and
/// becomes an app's container on a cold start, which then skips the runtime's start-up; it costs the memory of an idle
/// .NET process (about 30-40 MiB each) and a little CPU to start while nothing waits on it.
/// </summary>
public sealed record PlaceholderOptions
{
    /// <summary>The variable that sets <see cref="MaxCount"/> when no option does; <c>0</c> turns placeholders off.</summary>
    public const string EnvironmentVariable = "FERRY_PLACEHOLDERS";

    /// <summary>The most placeholders kept at once, over all kinds; 0 turns them off. Default 4.</summary>
    public int MaxCount { get; init; } = 4;

    /// <summary>The most memory (resident) the idle placeholders may hold together; no new one starts beyond it. Default 512 MiB.</summary>
    public long MaxMemoryMiB { get; init; } = 512;

    /// <summary>
    /// How far back cold starts count towards a kind's pool size: a kind keeps as many placeholders as it had cold
    /// starts in this window (the base kind at least one). Default one minute.
    /// </summary>
    public TimeSpan RateWindow { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Whether placeholders are on.</summary>
    public bool Enabled => MaxCount > 0;

    /// <summary>No placeholders: every cold start launches a new process.</summary>
    public static PlaceholderOptions Off { get; } = new() { MaxCount = 0 };

    /// <summary>
    /// The options for <paramref name="maxCount"/> when given, else from <see cref="EnvironmentVariable"/>, else the defaults.
    /// </summary>
    /// <exception cref="ArgumentException">The count is negative, or the variable is not a whole number.</exception>
    public static PlaceholderOptions From(int? maxCount)
    {
        if (maxCount is null && Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } text)
        {
            maxCount = int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed)
                ? parsed
                : throw new ArgumentException($"{EnvironmentVariable} must be a whole number of placeholders (0 turns them off), not '{text}'.");
        }
        return maxCount switch
        {
            null => new PlaceholderOptions(),
            < 0 => throw new ArgumentException($"The number of placeholders cannot be negative ({maxCount}); use 0 to turn them off."),
            _ => new PlaceholderOptions { MaxCount = maxCount.Value },
        };
    }
}
