using Ferry.Protocol;

namespace Ferry.Server.Storage;

/// <summary>A call as stored.</summary>
internal sealed record CallRecord(string CallId, string AppId, string Function, string PoolId, string Kind, DateTimeOffset CreatedAt, bool Final, PoolSpec? Pool);

/// <summary>An input as stored when accepted; <see cref="InputId"/> is the one the store assigned.</summary>
internal sealed record InputRecord(long InputId, string CallId, int Index, string? Args, string? ArgsBlob);

/// <summary>An input to add to a call: the store assigns its id.</summary>
internal sealed record NewInput(int Index, string? Args, string? ArgsBlob);

/// <summary>An input's final outcome; the store gives it the call's next output cursor when it is the input's first.</summary>
internal sealed record CompletionRecord(long InputId, string CallId, bool Success, string? Result, string? ResultBlob, RemoteError? Error, DateTimeOffset CompletedAt);

/// <summary>An unfinished input, as reloaded after a restart.</summary>
internal sealed record PendingInput(InputRecord Input, CallRecord Call, int Attempt);

/// <summary>
/// A finished input of a call, as reloaded. <see cref="Cursor"/> is its place in the call's outputs: 1 for the first
/// completed, then 2, 3, ... with no gaps, in the order the completions committed.
/// </summary>
internal sealed record StoredOutput(int Index, long Cursor, bool Success, string? Result, string? ResultBlob, RemoteError? Error);

/// <summary>
/// Calls, their inputs and their outcomes: what the scheduler makes durable before it acknowledges, and reloads after
/// a restart. Writes follow the rules of <see cref="IStore"/>: each returns once committed, in the order issued.
/// </summary>
/// <remarks>
/// The store, not the server, numbers things, so that several servers on one database never collide: input ids come
/// from one sequence (unique and increasing in the order the store assigns them, not dense), and each call's outputs
/// get cursors 1, 2, 3, ... in the order their completions commit, so a reader paging by cursor never misses one or
/// sees one move. Two servers completing inputs of one call concurrently are serialized on the call.
/// </remarks>
internal interface ICallStore
{
    /// <summary>
    /// Saves a call (if new) and its inputs, and returns the id the store assigned to each input, in the order given.
    /// Idempotent: a call already stored is not rewritten, except that a <paramref name="call"/> whose
    /// <see cref="CallRecord.Final"/> is true marks it final, in the same commit as the inputs; an input whose index the
    /// call already has is ignored, whatever its arguments, and its id is returned as 0.
    /// </summary>
    Task<IReadOnlyList<long>> AddInputsAsync(CallRecord call, IReadOnlyList<NewInput> inputs, CancellationToken cancellationToken) =>
        AddInputsAsync(call, inputs, null, cancellationToken);

    /// <summary>
    /// <see cref="AddInputsAsync(CallRecord, IReadOnlyList{NewInput}, CancellationToken)"/>, committed only while
    /// <paramref name="fence"/> holds (when not null).
    /// </summary>
    /// <exception cref="LeaseLostException">The fence's lease has changed hands; nothing was written.</exception>
    Task<IReadOnlyList<long>> AddInputsAsync(CallRecord call, IReadOnlyList<NewInput> inputs, LeaseFence? fence, CancellationToken cancellationToken);

    /// <summary>Marks a call final: no more inputs will come.</summary>
    Task SetFinalAsync(string callId, CancellationToken cancellationToken);

    /// <summary>
    /// Records inputs' outcomes, giving each its call's next output cursor in the order listed. An input's first outcome
    /// is its final one: a later completion of it is ignored and takes no cursor.
    /// </summary>
    Task CompleteInputsAsync(IReadOnlyList<CompletionRecord> completions, CancellationToken cancellationToken) =>
        CompleteInputsAsync(completions, null, cancellationToken);

    /// <summary>
    /// <see cref="CompleteInputsAsync(IReadOnlyList{CompletionRecord}, CancellationToken)"/>, committed only while
    /// <paramref name="fence"/> holds (when not null).
    /// </summary>
    /// <exception cref="LeaseLostException">The fence's lease has changed hands; nothing was written.</exception>
    Task CompleteInputsAsync(IReadOnlyList<CompletionRecord> completions, LeaseFence? fence, CancellationToken cancellationToken);

    /// <summary>Records which attempt an input is on; <see cref="LoadPendingInputsAsync"/> returns it.</summary>
    Task SetAttemptAsync(long inputId, int attempt, CancellationToken cancellationToken);

    /// <summary>Every input without an outcome, in input id order, each with its call and its last recorded attempt.</summary>
    Task<IReadOnlyList<PendingInput>> LoadPendingInputsAsync(CancellationToken cancellationToken);

    /// <summary>
    /// A page of one call's unfinished inputs whose ids lie from <paramref name="fromId"/> to <paramref name="toId"/>
    /// (both included): at most <paramref name="limit"/> of them, in input id order, each with its last recorded attempt.
    /// The scheduler reads back with it the inputs it accepted without keeping them in memory.
    /// </summary>
    Task<IReadOnlyList<PendingInput>> LoadQueuedInputsAsync(CallRecord call, long fromId, long toId, int limit, CancellationToken cancellationToken);

    /// <summary>The call as first saved, with whether it is final; null for an unknown id.</summary>
    Task<CallRecord?> GetCallAsync(string callId, CancellationToken cancellationToken);

    /// <summary>
    /// A call whole: its outputs in cursor order, and the index of every input, those without an outcome first
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
    /// A page of a call's outputs in cursor order: at most <paramref name="limit"/> of them, those whose cursor is
    /// greater than <paramref name="after"/> (0 reads from the start).
    /// </summary>
    Task<IReadOnlyList<StoredOutput>> GetOutputsAsync(string callId, long after, int limit, CancellationToken cancellationToken);
}
