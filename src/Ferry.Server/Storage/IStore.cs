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
    public const string Running = "running";
    public const string Stopped = "stopped";
}

/// <summary>A credential as stored: the SHA-256 of its secret, never the secret.</summary>
internal sealed record TokenRecord(string TokenId, string Name, string Kind, string SecretHash, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt);

/// <summary>A call as stored.</summary>
internal sealed record CallRecord(string CallId, string AppId, string Function, string PoolId, string Kind, DateTimeOffset CreatedAt, bool Final, PoolSpec? Pool);

/// <summary>An input as stored when accepted.</summary>
internal sealed record InputRecord(long InputId, string CallId, int Index, string? Args, string? ArgsBlob);

/// <summary>An input's final outcome. <see cref="Order"/> is a global completion counter that orders each call's outputs.</summary>
internal sealed record CompletionRecord(long InputId, long Order, bool Success, string? Result, string? ResultBlob, RemoteError? Error, DateTimeOffset CompletedAt);

/// <summary>An unfinished input, as reloaded after a restart.</summary>
internal sealed record PendingInput(InputRecord Input, CallRecord Call, int Attempt);

/// <summary>A finished input of a call, as reloaded.</summary>
internal sealed record StoredOutput(int Index, long Order, bool Success, string? Result, string? ResultBlob, RemoteError? Error);

/// <summary>
/// The durable state of the control plane. Every write returns once it is committed; implementations batch concurrent
/// writes into one transaction (group commit), so a caller's acknowledgement never waits on a private fsync.
/// </summary>
internal interface IStore : IAsyncDisposable
{
    /// <summary>The most calls <see cref="DeleteExpiredAsync"/> deletes in one transaction.</summary>
    const int ExpiredCallsPerBatch = 200;

    Task InitializeAsync(CancellationToken cancellationToken);

    Task SaveBuildAsync(BuildManifest build, CancellationToken cancellationToken);

    Task<BuildManifest?> GetBuildAsync(string buildId, CancellationToken cancellationToken);

    Task SaveAppAsync(AppRecord app, CancellationToken cancellationToken);

    /// <summary>Inserts a token, or updates its revocation.</summary>
    Task SaveTokenAsync(TokenRecord token, CancellationToken cancellationToken);

    Task<IReadOnlyList<TokenRecord>> ListTokensAsync(CancellationToken cancellationToken);

    Task<IReadOnlyList<AppRecord>> ListAppsAsync(CancellationToken cancellationToken);

    /// <summary>Saves a call (if new) and its inputs; inputs whose index the call already has are ignored.</summary>
    Task AddInputsAsync(CallRecord call, IReadOnlyList<InputRecord> inputs, CancellationToken cancellationToken);

    /// <summary>Marks a call final: no more inputs will come.</summary>
    Task SetFinalAsync(string callId, CancellationToken cancellationToken);

    Task CompleteInputsAsync(IReadOnlyList<CompletionRecord> completions, CancellationToken cancellationToken);

    Task SetAttemptAsync(long inputId, int attempt, CancellationToken cancellationToken);

    Task<IReadOnlyList<PendingInput>> LoadPendingInputsAsync(CancellationToken cancellationToken);

    Task<CallRecord?> GetCallAsync(string callId, CancellationToken cancellationToken);

    Task<(IReadOnlyList<StoredOutput> Outputs, IReadOnlyList<int> Indices)> LoadCallAsync(string callId, CancellationToken cancellationToken);

    /// <summary>A call's inputs, and how many of them have their final outcome.</summary>
    Task<(int Total, int Completed)> CountInputsAsync(string callId, CancellationToken cancellationToken);

    /// <summary>How many of a call's inputs have a final outcome that is a failure.</summary>
    Task<int> CountFailedAsync(string callId, CancellationToken cancellationToken);

    /// <summary>Whether any input of the call ended cancelled.</summary>
    Task<bool> WasCancelledAsync(string callId, CancellationToken cancellationToken);

    /// <summary>A page of a call's outputs in completion order: the outputs at positions after <paramref name="after"/>.</summary>
    Task<IReadOnlyList<StoredOutput>> GetOutputsAsync(string callId, long after, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes what finished before <paramref name="cutoff"/>: calls whose every input completed by then, with their
    /// inputs; log lines; apps stopped by then, with their calls, finished or not, and logs. Returns how many calls and
    /// apps went; it takes at most <see cref="ExpiredCallsPerBatch"/> calls per transaction, so callers repeat it until
    /// no call goes. A stopped app goes with the batch that takes its last call. A final call with no inputs counts as
    /// finished when it was created.
    /// </summary>
    Task<(int Calls, int Apps)> DeleteExpiredAsync(DateTimeOffset cutoff, CancellationToken cancellationToken);

    Task<long> MaxInputIdAsync(CancellationToken cancellationToken);

    Task<long> MaxCompletionOrderAsync(CancellationToken cancellationToken);

    Task AppendLogsAsync(string appId, IReadOnlyList<LogEntry> entries, CancellationToken cancellationToken);

    Task<IReadOnlyList<LogEntry>> GetLogsAsync(string appId, long after, int limit, CancellationToken cancellationToken);

    Task<long> MaxLogSeqAsync(string appId, CancellationToken cancellationToken);

    /// <summary>The app whose log has lines from <paramref name="containerId"/>, or null.</summary>
    Task<string?> FindAppOfContainerAsync(string containerId, CancellationToken cancellationToken);

    /// <summary>Records that a worker has an image ready; <see cref="ImageBuilt.BuiltLayers"/> above 0 counts as a build.</summary>
    Task RecordImageAsync(string workerId, ImageBuilt image, DateTimeOffset at, CancellationToken cancellationToken);

    Task<IReadOnlyList<ImageSummary>> ListImagesAsync(CancellationToken cancellationToken);
}
