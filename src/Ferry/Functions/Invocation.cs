using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using Ferry.Client;
using Ferry.Hosting;
using Ferry.Protocol;
using Ferry.Serialization;

namespace Ferry;

/// <summary>
/// The name-based core of calls with many inputs or many results: maps, spawned maps and generator streams. Typed
/// handles pack their arguments and call in here; a call of one input is <see cref="FerryClient.RemoteAsync{TResult}"/>.
/// </summary>
internal static class Invocation
{
    // Half the window: the container fills one half while the caller reads the other.
    private const int ItemsPerRead = ProtocolInfo.StreamWindowItems / 2;

    /// <summary>
    /// Runs a generator: one call of kind <see cref="CallKinds.Stream"/>, whose items are long-polled after a cursor
    /// (each read acknowledges the items before it, giving the container room to go on) while its output is
    /// long-polled beside them. The output says how the generator ended; the items it sent before are read first.
    /// Stopping early cancels the call.
    /// </summary>
    public static async IAsyncEnumerable<TItem> StreamAsync<TItem>(
        FerryClient client,
        string function,
        PoolSpec? pool,
        JsonElement args,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var callId = FerryClient.NewCallId();
        var input = await client.PrepareAsync(0, args, cancellationToken).ConfigureAwait(false);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task<OutputItem?>? outcome = null;
        var finished = false;
        try
        {
            await client.CreateCallAsync(new CreateCallRequest(callId, function, CallKinds.Stream, [input], Final: true, Pool: pool), cts.Token).ConfigureAwait(false);
            outcome = client.WaitForOutputAsync(callId, null, cts.Token);
            long after = 0;
            while (true)
            {
                var batch = await ReadItemsAsync(client, callId, after, outcome, cts.Token).ConfigureAwait(false);
                foreach (var item in batch.Items)
                {
                    yield return Payload.Read<TItem>(item);
                }
                after = batch.Next;
                // Once the output is in, every item sent before it is held: a read that brings none has them all.
                if (batch.Ended || (outcome.IsCompleted && batch.Items.Count == 0))
                {
                    break;
                }
            }
            var output = await outcome.ConfigureAwait(false);
            finished = true;
            if (output is { Success: false })
            {
                throw FerryClient.ToException(function, output.Error);
            }
        }
        finally
        {
            if (!finished)
            {
                await cts.CancelAsync().ConfigureAwait(false);
                await client.CancelQuietlyAsync(callId).ConfigureAwait(false);
            }
            if (outcome is not null)
            {
                // Observed here so that an abandoned long poll's cancellation is never an unobserved exception.
                await ((Task)outcome).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    /// <summary>One long poll for items that ends early, with no items, when the call's output arrives.</summary>
    private static async Task<ItemBatch> ReadItemsAsync(FerryClient client, string callId, long after, Task<OutputItem?> outcome, CancellationToken cancellationToken)
    {
        if (outcome.IsCompleted)
        {
            return await client.GetStreamItemsAsync(callId, after, TimeSpan.Zero, ItemsPerRead, cancellationToken).ConfigureAwait(false);
        }
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var read = client.GetStreamItemsAsync(callId, after, client.Options.PollWait, ItemsPerRead, abandon.Token);
        if (await Task.WhenAny(read, outcome).ConfigureAwait(false) == read)
        {
            return await read.ConfigureAwait(false);
        }
        await abandon.CancelAsync().ConfigureAwait(false);
        await ((Task)read).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        // Whatever the abandoned read brought is read again: nothing after the cursor was acknowledged.
        return await client.GetStreamItemsAsync(callId, after, TimeSpan.Zero, ItemsPerRead, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs a map: one producer sends inputs in chunks, keeping at most <see cref="ClientOptions.MapMaxPending"/> without a result,
    /// while this loop long-polls for outputs. Every request is idempotent, so a server restart in the middle is
    /// ridden out by retries: the server deduplicates inputs by index, and outputs are deduplicated here.
    /// </summary>
    public static async IAsyncEnumerable<Outcome<TResult>> MapAsync<TResult>(
        FerryClient client,
        string function,
        PoolSpec? pool,
        IEnumerable<JsonElement> inputs,
        bool orderOutputs,
        string kind,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        FerryClient.RefuseGenerator<TResult>(function, "MapAsync");
        var callId = FerryClient.NewCallId();
        using var window = new SemaphoreSlim(client.Options.MapMaxPending);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var total = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var producer = Task.Run(() => ProduceAsync(client, callId, function, pool, kind, inputs, window, 1, created, total, cts.Token), cts.Token);

        var received = new HashSet<int>();
        var pending = new Dictionary<int, Outcome<TResult>>();
        var next = 0;
        long cursor = 0;
        var completed = false;
        try
        {
            await created.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            MapAnnouncer.Announce(callId, function, kind);
            while (!completed)
            {
                if (producer.IsFaulted)
                {
                    await producer.ConfigureAwait(false);
                }
                var batch = await client.GetOutputsAsync(callId, cursor, client.Options.PollWait, cts.Token).ConfigureAwait(false);
                cursor = Math.Max(cursor, batch.Next);
                foreach (var output in batch.Outputs)
                {
                    if (!received.Add(output.Index))
                    {
                        continue;
                    }
                    window.Release();
                    var outcome = await ToOutcomeAsync<TResult>(client, function, output, cts.Token).ConfigureAwait(false);
                    if (!orderOutputs)
                    {
                        yield return outcome;
                        continue;
                    }
                    pending[output.Index] = outcome;
                    while (pending.Remove(next, out var ready))
                    {
                        next++;
                        yield return ready;
                    }
                }
                completed = total.Task.IsCompletedSuccessfully && received.Count == await total.Task.ConfigureAwait(false);
            }
            await producer.ConfigureAwait(false);
        }
        finally
        {
            if (!completed)
            {
                await cts.CancelAsync().ConfigureAwait(false);
                await client.CancelQuietlyAsync(callId).ConfigureAwait(false);
            }
        }
    }

    private static async Task ProduceAsync(
        FerryClient client,
        string callId,
        string function,
        PoolSpec? pool,
        string kind,
        IEnumerable<JsonElement> inputs,
        SemaphoreSlim? window,
        int uploadsInFlight,
        TaskCompletionSource created,
        TaskCompletionSource<int> total,
        CancellationToken cancellationToken)
    {
        // Batches sent but not yet acknowledged; the server orders their writes and deduplicates them by index.
        var uploads = new Queue<Task>();
        async Task DrainAsync(int leave)
        {
            while (uploads.Count > leave)
            {
                await uploads.Dequeue().ConfigureAwait(false);
            }
        }
        try
        {
            var chunkItems = client.Options.MapBatchSize;
            var chunk = new List<InputItem>(chunkItems);
            var chunkBytes = 0;
            var index = 0;
            var first = true;
            async Task FlushAsync(bool final)
            {
                var batch = chunk;
                chunk = new List<InputItem>(chunkItems);
                chunkBytes = 0;
                if (first)
                {
                    await client.CreateCallAsync(new CreateCallRequest(callId, function, kind, batch, final, Pool: pool), cancellationToken).ConfigureAwait(false);
                    first = false;
                    created.TrySetResult();
                    return;
                }
                if (final)
                {
                    // The server refuses inputs to a call marked final, so the final batch never overtakes one before it.
                    await DrainAsync(0).ConfigureAwait(false);
                    await client.AddInputsAsync(callId, new AddInputsRequest(batch, true), cancellationToken).ConfigureAwait(false);
                    return;
                }
                uploads.Enqueue(client.AddInputsAsync(callId, new AddInputsRequest(batch, false), cancellationToken));
                await DrainAsync(uploadsInFlight - 1).ConfigureAwait(false);
            }

            foreach (var args in inputs)
            {
#pragma warning disable VSTHRD103 // Wait(0) takes a free slot or returns false at once; it never blocks.
                if (window is not null && !window.Wait(0))
#pragma warning restore VSTHRD103
                {
                    if (chunk.Count > 0)
                    {
                        await FlushAsync(final: false).ConfigureAwait(false);
                    }
                    await window.WaitAsync(cancellationToken).ConfigureAwait(false);
                }
                var item = await client.PrepareAsync(index++, args, cancellationToken).ConfigureAwait(false);
                chunk.Add(item);
                chunkBytes += item.Args is { } sent ? JsonMarshal.GetRawUtf8Value(sent).Length : 64;
                if (chunk.Count >= chunkItems || chunkBytes >= client.Options.MapBatchBytes)
                {
                    await FlushAsync(final: false).ConfigureAwait(false);
                }
            }
            await FlushAsync(final: true).ConfigureAwait(false);
            total.TrySetResult(index);
        }
        catch (Exception e)
        {
            foreach (var upload in uploads)
            {
                // Observed, so that a batch failing behind the first failure is never an unobserved exception.
                await upload.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            created.TrySetException(e);
            total.TrySetException(e);
            throw;
        }
    }

    internal static async ValueTask<Outcome<TResult>> ToOutcomeAsync<TResult>(FerryClient client, string function, OutputItem output, CancellationToken cancellationToken)
    {
        if (!output.Success)
        {
            return new Outcome<TResult>(output.Index, default, FerryClient.ToException(function, output.Error));
        }
        var value = await client.DecodeAsync<TResult>(function, output, cancellationToken).ConfigureAwait(false);
        return new Outcome<TResult>(output.Index, value, null);
    }

    /// <summary>
    /// How many batches of a spawn map are sent before the first of them is acknowledged: the client prepares the next
    /// batches while the server writes one, and the store's writer commits those that wait together.
    /// </summary>
    private const int SpawnUploadsInFlight = 4;

    /// <summary>Submits a map whose results nobody waits for, returning once every input is durable.</summary>
    public static async Task<string> SpawnMapAsync(FerryClient client, string function, PoolSpec? pool, IEnumerable<JsonElement> inputs, CancellationToken cancellationToken)
    {
        var callId = FerryClient.NewCallId();
        var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var total = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            _ = created.Task.ContinueWith(_ => MapAnnouncer.Announce(callId, function, CallKinds.Spawn), CancellationToken.None,
                TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            await ProduceAsync(client, callId, function, pool, CallKinds.Spawn, inputs, window: null, SpawnUploadsInFlight, created, total, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Inputs sent so far would run, in a call that never becomes final and whose id the caller never learns.
            await client.CancelQuietlyAsync(callId).ConfigureAwait(false);
            throw;
        }
        return callId;
    }
}
