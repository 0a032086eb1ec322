using Ferry.Protocol;

namespace Ferry.Server.Storage;

/// <summary>An app as stored.</summary>
internal sealed record AppRecord(
    string AppId,
    string Name,
    string? BuildId,
    string State,
    bool Detached,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StoppedAt,
    AppDefinition? Definition);

/// <summary>Values of <see cref="AppRecord.State"/>.</summary>
internal static class AppStates
{
    /// <summary>An ephemeral app, or one run detached: it lives while its client does (or until stopped).</summary>
    public const string Running = "running";

    /// <summary>The current version of a deployed app: it runs with no client, and lookups by name reach it.</summary>
    public const string Deployed = "deployed";

    /// <summary>A replaced version of a deployed app: it finishes the inputs it has, takes no new calls, then stops.</summary>
    public const string Draining = "draining";

    public const string Stopped = "stopped";
}

/// <summary>
/// Apps, with their definitions, and the builds they run. Writes follow the rules of <see cref="IStore"/>: each returns
/// once committed, in the order issued.
/// </summary>
internal interface IAppStore
{
    /// <summary>Saves a build's manifest. A build id names one manifest: saving an id that is already stored changes nothing.</summary>
    Task SaveBuildAsync(BuildManifest build, CancellationToken cancellationToken);

    /// <summary>The manifest saved under <paramref name="buildId"/>, or null.</summary>
    Task<BuildManifest?> GetBuildAsync(string buildId, CancellationToken cancellationToken);

    /// <summary>Inserts an app, or replaces everything of a stored one but its creation time.</summary>
    Task SaveAppAsync(AppRecord app, CancellationToken cancellationToken);

    /// <summary>Every stored app, in creation order, as last saved.</summary>
    Task<IReadOnlyList<AppRecord>> ListAppsAsync(CancellationToken cancellationToken);
}
