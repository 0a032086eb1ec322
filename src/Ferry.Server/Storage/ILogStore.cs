using Ferry.Protocol;

namespace Ferry.Server.Storage;

/// <summary>
/// Each app's log: lines numbered per app by the log hub, which writes them in batches and pages them back for readers
/// that fall behind what it keeps in memory. Writes follow the rules of <see cref="IStore"/>.
/// </summary>
internal interface ILogStore
{
    /// <summary>Appends lines to an app's log. Idempotent: a line whose sequence number the app already has is ignored.</summary>
    Task AppendLogsAsync(string appId, IReadOnlyList<LogEntry> entries, CancellationToken cancellationToken);

    /// <summary>At most <paramref name="limit"/> of an app's lines with a sequence number above <paramref name="after"/>, in sequence order.</summary>
    Task<IReadOnlyList<LogEntry>> GetLogsAsync(string appId, long after, int limit, CancellationToken cancellationToken);

    /// <summary>The largest sequence number of an app's stored lines, or 0: the log hub numbers new lines after it.</summary>
    Task<long> MaxLogSeqAsync(string appId, CancellationToken cancellationToken);

    /// <summary>The app whose log has lines from <paramref name="containerId"/>, or null.</summary>
    Task<string?> FindAppOfContainerAsync(string containerId, CancellationToken cancellationToken);
}
