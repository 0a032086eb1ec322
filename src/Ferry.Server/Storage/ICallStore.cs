using Ferry.Protocol;

namespace Ferry.Server.Storage;

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
/// Calls, their inputs and their outcomes: what the scheduler makes durable before it acknowledges, and reloads after
/// a restart. Writes follow the rules of <see cref="IStore"/>: each returns once committed, in the order issued, which
/// is what keeps a call's outputs in the order the scheduler numbered them.
/// </summary>
internal interface ICallStore
{
    /// <summary>
    /// Saves a call (if new) and its inputs. Idempotent: a call already stored is not rewritten, and an input whose
    /// index the call already has is ignored, whatever its id and arguments.
    /// </summary>
    Task AddInputsAsync(CallRecord call, IReadOnlyList<InputRecord> inputs, CancellationToken cancellationToken);

    /// <summary>Marks a call final: no more inputs will come.</summary>
    Task SetFinalAsync(string callId, CancellationToken cancellationToken);

    /// <summary>Records inputs' outcomes. An input's first outcome is its final one: a later completion of it is ignored.</summary>
    Task CompleteInputsAsync(IReadOnlyList<CompletionRecord> completions, CancellationToken cancellationToken);

    /// <summary>Records which attempt an input is on; <see cref="LoadPendingInputsAsync"/> returns it.</summary>
    Task SetAttemptAsync(long inputId, int attempt, CancellationToken cancellationToken);

    /// <summary>Every input without an outcome, in input id order, each with its call and its last recorded attempt.</summary>
    Task<IReadOnlyList<PendingInput>> LoadPendingInputsAsync(CancellationToken cancellationToken);

    /// <summary>The call as first saved, with whether it is final; null for an unknown id.</summary>
    Task<CallRecord?> GetCallAsync(string callId, CancellationToken cancellationToken);

    /// <summary>
    /// A call whole: its outputs in completion order, and the index of every input, those without an outcome first
    /// (by index), then the rest in completion order. Both are empty for an unknown id.
    /// </summary>
    Task<(IReadOnlyList<StoredOutput> Outputs, IReadOnlyList<int> Indices)> LoadCallAsync(string callId, CancellationToken cancellationToken);

    /// <summary>A call's inputs, and how many of them have their final outcome.</summary>
    Task<(int Total, int Completed)> CountInputsAsync(string callId, CancellationToken cancellationToken);

    /// <summary>How many of a call's inputs have a final outcome that is a failure.</summary>
    Task<int> CountFailedAsync(string callId, CancellationToken cancellationToken);

    /// <summary>Whether any input of the call ended cancelled.</summary>
    Task<bool> WasCancelledAsync(string callId, CancellationToken cancellationToken);

    /// <summary>
    /// A page of a call's outputs in completion order: at most <paramref name="limit"/> of them, from the one after
    /// the first <paramref name="after"/>. A position is a count of the call's outputs, not an order number.
    /// </summary>
    Task<IReadOnlyList<StoredOutput>> GetOutputsAsync(string callId, long after, int limit, CancellationToken cancellationToken);

    /// <summary>The largest input id stored, or 0: the scheduler numbers new inputs after it.</summary>
    Task<long> MaxInputIdAsync(CancellationToken cancellationToken);

    /// <summary>The largest completion order number stored, or 0: the scheduler numbers new completions after it.</summary>
    Task<long> MaxCompletionOrderAsync(CancellationToken cancellationToken);
}
