namespace Ferry.Server.Storage;

/// <summary>
/// Deleting what is older than the retention period. It spans aggregates (calls, logs, apps), so it is an interface of
/// its own rather than part of any one of them; an aggregate that later gains an expiry adds its rule here.
/// </summary>
internal interface IRetentionStore
{
    /// <summary>The most calls <see cref="DeleteExpiredAsync"/> deletes in one transaction.</summary>
    const int ExpiredCallsPerBatch = 200;

    /// <summary>
    /// Deletes what finished before <paramref name="cutoff"/>: calls whose every input completed by then, with their
    /// inputs; log lines; apps stopped by then, with their calls, finished or not, and logs. Returns how many calls and
    /// apps went; it takes at most <see cref="ExpiredCallsPerBatch"/> calls per transaction, so callers repeat it until
    /// no call goes. A stopped app goes with the batch that takes its last call. A final call with no inputs counts as
    /// finished when it was created. A call that is not final is kept, unless its app stopped.
    /// </summary>
    Task<(int Calls, int Apps)> DeleteExpiredAsync(DateTimeOffset cutoff, CancellationToken cancellationToken);
}
