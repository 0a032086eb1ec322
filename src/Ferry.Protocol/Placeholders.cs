namespace Ferry.Protocol;

/// <summary>
/// What a worker tells a pre-started placeholder container to become: one line of JSON on its standard input. The
/// placeholder replaces its whole environment with <paramref name="Environment"/>, moves to
/// <paramref name="WorkingDirectory"/>, loads <paramref name="Assembly"/> in a new load context and runs its entry
/// point, as a container started for that program would.
/// </summary>
/// <param name="Environment">The complete environment a freshly started container would have had.</param>
/// <param name="WorkingDirectory">The directory a freshly started container would have started in.</param>
/// <param name="Assembly">The program's main assembly, as a path the placeholder can open.</param>
public sealed record PlaceholderSpecialization(
    IReadOnlyDictionary<string, string> Environment,
    string WorkingDirectory,
    string Assembly);

/// <summary>The line a placeholder writes to its standard output once it is ready to be specialised.</summary>
public static class PlaceholderSignals
{
    /// <summary>Written once, after the runtime and Ferry's assemblies are loaded and warmed.</summary>
    public const string Ready = "ferry-placeholder-ready";
}
