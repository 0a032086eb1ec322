using System.Runtime.CompilerServices;
using Ferry.Client;
using Ferry.Hosting;
using Ferry.Protocol;

namespace Ferry;

/// <summary>
/// A handle on a map started with <c>SpawnMapAsync</c>: its inputs are durably queued and run whether or not anyone
/// waits. Like <see cref="FunctionCall{TResult}"/> it is plain data (an id), so another process can make it again with
/// <see cref="FromId"/> and follow the same map.
/// </summary>
/// <typeparam name="TResult">The function's result type.</typeparam>
public sealed class FunctionCallMap<TResult>
{
    private readonly FerryClient? _client;
    private string? _function;

    internal FunctionCallMap(string id, string? function, FerryClient? client)
    {
        Id = id;
        _function = function;
        _client = client;
    }

    /// <summary>The map's call id, such as <c>fc-0b9f…</c>.</summary>
    public string Id { get; }

    private FerryClient Client => _client ?? FerryContext.Client;

    /// <summary>Makes a handle on a map spawned elsewhere, by this program or another.</summary>
    /// <param name="id">The map's <see cref="Id"/>.</param>
    /// <param name="connection">The server the map is on. Default: the environment's.</param>
    /// <exception cref="ArgumentException">The id is empty or longer than the 128 characters a call id may have.</exception>
    public static FunctionCallMap<TResult> FromId(string id, FerryConnection? connection = null) =>
        new(FunctionCall<TResult>.CheckId(id), null, connection?.Client);

    /// <summary>How many inputs have succeeded, failed, and are still pending.</summary>
    /// <exception cref="NotFoundException">No call has this id.</exception>
    public async Task<FunctionCallStats> GetStatsAsync(CancellationToken cancellationToken = default)
    {
        var progress = await Client.GetCallProgressAsync(Id, cancellationToken).ConfigureAwait(false);
        return new FunctionCallStats(progress.Succeeded, progress.Failed, progress.Total - progress.Succeeded - progress.Failed, progress.Final);
    }

    /// <summary>
    /// The map's results in input order, each once, waiting for those not yet done. The first failed input throws; use
    /// <see cref="IterateOutcomesAsync"/> to receive failures as values. Stopping early leaves the map running.
    /// </summary>
    /// <exception cref="RemoteException">An input's function threw.</exception>
    /// <exception cref="NotFoundException">No call has this id.</exception>
    public async IAsyncEnumerable<TResult> IterateAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var outcome in IterateOutcomesAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return outcome.GetValueOrThrow();
        }
    }

    /// <summary>
    /// Like <see cref="IterateAsync"/>, but a failed input yields its exception as a value instead of throwing
    /// (Modal's <c>return_exceptions=True</c>). Every input yields exactly one outcome, in input order.
    /// </summary>
    /// <exception cref="NotFoundException">No call has this id.</exception>
    public async IAsyncEnumerable<Outcome<TResult>> IterateOutcomesAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var client = Client;
        _function ??= (await client.SendAsync<object, CallStatus>(HttpMethod.Get, Routes.Call(Id), null, null,
            ProtocolJsonContext.Default.CallStatus, cancellationToken).ConfigureAwait(false)).Function;
        var pending = new Dictionary<int, OutputItem>();
        var next = 0;
        long cursor = 0;
        while (true)
        {
            var batch = await client.GetOutputsAsync(Id, cursor, client.Options.PollWait, cancellationToken).ConfigureAwait(false);
            cursor = Math.Max(cursor, batch.Next);
            foreach (var output in batch.Outputs)
            {
                // A retried request may return outputs already seen; each input is yielded once.
                if (output.Index >= next)
                {
                    pending.TryAdd(output.Index, output);
                }
            }
            while (pending.Remove(next, out var ready))
            {
                next++;
                yield return await Invocation.ToOutcomeAsync<TResult>(client, _function!, ready, cancellationToken).ConfigureAwait(false);
            }
            if (batch.Done)
            {
                if (next < batch.Total)
                {
                    throw new FerryException($"The map {Id} finished with {batch.Total} inputs, but input {next} has no output.");
                }
                yield break;
            }
        }
    }

    /// <summary>
    /// Cancels the map: inputs not yet finished are marked cancelled and never retried, and running ones have their
    /// <see cref="CancellationToken"/> cancelled. Their outcomes become <see cref="InputCancelledException"/>s.
    /// </summary>
    public Task CancelAsync(CancellationToken cancellationToken = default) => Client.CancelCallAsync(Id, cancellationToken);

    /// <inheritdoc />
    public override string ToString() => Id;
}
