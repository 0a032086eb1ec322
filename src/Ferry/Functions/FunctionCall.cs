using Ferry.Hosting;

namespace Ferry;

/// <summary>
/// A handle on a spawned call. It is plain data (an id), so it can be stored and passed to other processes, and
/// <see cref="FromId"/> makes it again.
/// </summary>
/// <typeparam name="TResult">The function's result type.</typeparam>
public sealed class FunctionCall<TResult>
{
    private readonly string _function;

    internal FunctionCall(string id, string function)
    {
        Id = id;
        _function = function;
    }

    /// <summary>The call's id, such as <c>fc-0b9f…</c>.</summary>
    public string Id { get; }

    /// <summary>Makes a handle for a call spawned elsewhere.</summary>
    public static FunctionCall<TResult> FromId(string id) => new(id, "function");

    /// <summary>Waits for the call's result.</summary>
    /// <param name="timeout">How long to wait; null (the default) waits as long as the call runs.</param>
    /// <param name="cancellationToken">Stops waiting; the call goes on.</param>
    /// <exception cref="TimeoutException">No result within <paramref name="timeout"/>.</exception>
    /// <exception cref="RemoteException">The function threw.</exception>
    /// <exception cref="FunctionTimeoutException">The function ran past its own timeout.</exception>
    public async Task<TResult> GetAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var output = await Invocation.WaitForOutputAsync(FerryContext.Client, Id, timeout, cancellationToken).ConfigureAwait(false)
            ?? throw new TimeoutException($"Call {Id} produced no result within {timeout}.");
        return await Invocation.DecodeAsync<TResult>(FerryContext.Client, _function, output, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Cancels the call: inputs not yet finished are marked cancelled and never retried, and those running have the
    /// <see cref="CancellationToken"/> their function takes cancelled. Waiting callers get
    /// <see cref="InputCancelledException"/> at once.
    /// </summary>
    public Task CancelAsync(CancellationToken cancellationToken = default) =>
        FerryContext.Client.CancelCallAsync(Id, cancellationToken);

    /// <inheritdoc />
    public override string ToString() => Id;
}
