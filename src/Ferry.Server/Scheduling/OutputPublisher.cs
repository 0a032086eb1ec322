using Ferry.Protocol;
using Ferry.Server.Storage;
using Microsoft.Extensions.Logging;

namespace Ferry.Server.Scheduling;

/// <summary>
/// Records inputs' final outcomes and makes them visible: the write is queued under the scheduler's lock, so the store
/// commits completions in the order decided here and gives each its call's next cursor; outputs are published to their
/// calls in the same order once committed, so an output's place in memory is its cursor in the store, and long polls
/// waiting on a call are answered.
/// </summary>
/// <remarks>
/// <see cref="Complete"/> runs under the scheduler's lock, taken by its caller. Publishing runs when a write commits,
/// and long polls wait between looks, so both take <paramref name="gate"/> themselves.
/// </remarks>
internal sealed partial class OutputPublisher(Lock gate, ICallStore store, CallTable calls, ChangeSignal changes, TimeProvider clock, ILogger logger)
{
    private readonly Queue<PendingPublish> _unpublished = new();

    /// <summary>
    /// A write of outcomes not yet published; each output gets its cursor, and so its item, when it is.
    /// <see cref="Early"/> are calls whose output was published before the write (<see cref="PublishesEarly"/>).
    /// </summary>
    private sealed record PendingPublish(Task Write, IReadOnlyList<(CallState Call, int Index, ContainerOutput Output)> Outputs, IReadOnlyList<CallState> Early);

    /// <summary>
    /// Records inputs' final outcomes. Outputs become visible in exactly the order they are committed, except that,
    /// when <paramref name="wake"/> is given, the output of a call that runs one input and waits for it (a
    /// <see cref="CallKinds.Sync"/> call) is published at once, beside its write: its waiting caller is answered while
    /// the store commits, and the signals to complete once the caller has released the lock are added to
    /// <paramref name="wake"/>. Such a call stays in memory until the write commits (<see cref="CallTable.Evict"/>).
    /// </summary>
    public void Complete(IReadOnlyList<(InputState Input, ContainerOutput Output)> done, List<TaskCompletionSource>? wake = null)
    {
        var now = clock.GetUtcNow();
        var records = new List<CompletionRecord>(done.Count);
        var published = new List<(CallState, int, ContainerOutput)>(done.Count);
        List<CallState>? early = null;
        foreach (var (input, output) in done)
        {
            var call = input.Call;
            call.Open.Remove(input.Index);
            var result = output.Result?.GetRawText();
            records.Add(new CompletionRecord(input.Id, call.CallId, output.Success, result, output.ResultBlob, output.Error, now));
            if (wake is not null && PublishesEarly(call))
            {
                Publish(call, input.Index, output, now);
                call.Unsaved = true;
                (early ??= []).Add(call);
                wake.Add(TakeSignal(call));
            }
            else
            {
                published.Add((call, input.Index, output));
            }
        }
        if (early is not null)
        {
            changes.Pulse();
        }
        // One container's outputs, so one app's: its lease fences the write on a replica among several.
        var write = store.CompleteInputsAsync(records, done.Count > 0 ? done[0].Input.Call.Pool.App.Fence : null, CancellationToken.None);
        _unpublished.Enqueue(new PendingPublish(write, published, early ?? []));
        _ = write.ContinueWith(_ => PublishCommitted(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>
    /// A call of one input, with its caller waiting for the output: the call's only output is its first, so its cursor
    /// (1) does not depend on the order of commits, and the caller has nothing to read after it. Its input was durable
    /// before it was dispatched; should the server stop before the output commits, the input runs again.
    /// </summary>
    private static bool PublishesEarly(CallState call) =>
        call.Record.Kind == CallKinds.Sync && call.Final && call.Indices.Count == 1 && call.Published == 0;

    private void Publish(CallState call, int index, ContainerOutput output, DateTimeOffset now)
    {
        call.Outputs.Add(new OutputItem(index, output.Success, output.Result, output.ResultBlob, output.Error, call.Published + 1));
        calls.TrimOutputs(call);
        calls.MarkIfDone(call, now);
    }

    private void PublishCommitted()
    {
        var signals = new List<TaskCompletionSource>();
        lock (gate)
        {
            while (_unpublished.TryPeek(out var head) && head.Write.IsCompleted)
            {
                _unpublished.Dequeue();
                foreach (var call in head.Early)
                {
                    calls.Saved(call, clock.GetUtcNow());
                }
                if (head.Write.IsFaulted)
                {
                    LogCommitFailed(logger, head.Write.Exception!.GetBaseException());
                    continue;
                }
                CallState? woken = null;
                foreach (var (call, index, output) in head.Outputs)
                {
                    Publish(call, index, output, clock.GetUtcNow());
                    // A batch's outputs are mostly one call's: its waiters need waking once, after the last of them.
                    if (call != woken)
                    {
                        signals.Add(TakeSignal(call));
                        woken = call;
                    }
                }
                changes.Pulse();
            }
        }
        if (gate.IsHeldByCurrentThread)
        {
            // A write that committed before Complete returned publishes under its caller's lock: wake the waiters elsewhere.
            ThreadPool.UnsafeQueueUserWorkItem(Wake, signals, preferLocal: false);
            return;
        }
        Wake(signals);
    }

    /// <summary>
    /// Replaces a call's change signal, under the scheduler's lock, and returns the old one for the caller to complete
    /// with <see cref="Wake"/> once the lock is released. The waiting requests then resume on that thread and answer
    /// at once, instead of after another hand-off to the thread pool; they must not resume under the lock.
    /// </summary>
    public static TaskCompletionSource TakeSignal(CallState call)
    {
        var changed = call.Changed;
        call.Changed = new TaskCompletionSource();
        return changed;
    }

    /// <summary>Completes signals taken with <see cref="TakeSignal"/>. Never under the scheduler's lock.</summary>
    public static void Wake(List<TaskCompletionSource> signals)
    {
        foreach (var signal in signals)
        {
            signal.TrySetResult();
        }
    }

    /// <summary>
    /// A call's outputs after <paramref name="after"/>, waiting up to <paramref name="wait"/> for one to arrive; those
    /// that left memory (<see cref="CallTable.TrimOutputs"/>) are read from the store. A call read to its end leaves
    /// memory.
    /// </summary>
    public async Task<OutputBatch> WaitForOutputsAsync(CallState call, long after, TimeSpan wait, int limit, CancellationToken cancellationToken)
    {
        // Long-poll deadlines run on real time even when tests drive the scheduler's clock by hand.
        var deadline = TimeProvider.System.GetUtcNow() + wait;
        after = Math.Max(0, after);
        while (true)
        {
            Task changed;
            long before;
            lock (gate)
            {
                before = call.OutputsBefore;
                if (after >= before)
                {
                    var start = (int)Math.Clamp(after - before, 0, call.Outputs.Count);
                    if (start < call.Outputs.Count || call.IsDone)
                    {
                        var take = Math.Min(limit, call.Outputs.Count - start);
                        var slice = call.Outputs.GetRange(start, take);
                        var next = before + start + take;
                        var done = call.IsDone && next == call.Published;
                        if (done)
                        {
                            // Its caller has it all: later reads, if any, come from the store.
                            calls.Evict(call, clock.GetUtcNow());
                        }
                        return new OutputBatch(slice, next, done, call.Indices.Count);
                    }
                }
                changed = call.Changed.Task;
            }
            if (after < before)
            {
                return await ReadFromStoreAsync(call, after, (int)Math.Min(limit, before - after), cancellationToken).ConfigureAwait(false);
            }
            var remaining = deadline - TimeProvider.System.GetUtcNow();
            if (remaining <= TimeSpan.Zero)
            {
                return new OutputBatch([], after, false, call.Indices.Count);
            }
            try
            {
                // WaitAsync drops its timer as soon as the signal comes; a Task.Delay would stay queued for the whole wait.
                await changed.WaitAsync(remaining, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
        }
    }

    /// <summary>An output as the store keeps it, as callers read it.</summary>
    public static OutputItem ToOutput(StoredOutput output) =>
        new(output.Index, output.Success, output.Result is null ? null : System.Text.Json.JsonDocument.Parse(output.Result).RootElement.Clone(),
            output.ResultBlob, output.Error, output.Cursor);

    /// <summary>Outputs of a call still in memory that left its window: committed, so the store has them in the same order.</summary>
    private async Task<OutputBatch> ReadFromStoreAsync(CallState call, long after, int limit, CancellationToken cancellationToken)
    {
        var page = await store.GetOutputsAsync(call.CallId, after, limit, cancellationToken).ConfigureAwait(false);
        var items = page.Select(ToOutput).ToList();
        var next = items.Count > 0 ? items[^1].Cursor : after;
        lock (gate)
        {
            return new OutputBatch(items, next, call.IsDone && next == call.Published, call.Indices.Count);
        }
    }

    [LoggerMessage(Level = LogLevel.Critical, Message = "Committing outputs failed; they will not be published.")]
    private static partial void LogCommitFailed(ILogger logger, Exception error);
}
