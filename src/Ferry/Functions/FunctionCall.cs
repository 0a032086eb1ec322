using Ferry.Client;
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
    private readonly FerryClient? _client;

    internal FunctionCall(string id, string function, FerryClient? client)
    {
        Id = id;
        _function = function;
        _client = client;
    }

    /// <summary>The call's id, such as <c>fc-0b9f…</c>.</summary>
    public string Id { get; }

    private FerryClient Client => _client ?? FerryContext.Client;

    /// <summary>Makes a handle for a call spawned elsewhere, by this program or another.</summary>
    /// <param name="id">The call's <see cref="Id"/>.</param>
    /// <param name="connection">The server the call is on. Default: the environment's.</param>
    /// <exception cref="ArgumentException">The id is empty or longer than the 128 characters a call id may have.</exception>
    public static FunctionCall<TResult> FromId(string id, FerryConnection? connection = null) =>
        new(CheckId(id), "function", connection?.Client);

    internal static string CheckId(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (id.Length is 0 or > 128 || id.Any(char.IsWhiteSpace))
        {
            throw new ArgumentException($"'{id}' is not a call id: ids are 1 to 128 characters without spaces, like fc-0b9f2c….", nameof(id));
        }
        return id;
    }

    /// <summary>Waits for the call's result.</summary>
    /// <param name="timeout">How long to wait; null (the default) waits as long as the call runs.</param>
    /// <param name="cancellationToken">Stops waiting; the call goes on.</param>
    /// <exception cref="TimeoutException">No result within <paramref name="timeout"/>.</exception>
    /// <exception cref="RemoteException">The function threw.</exception>
    /// <exception cref="FunctionTimeoutException">The function ran past its own timeout.</exception>
    public async Task<TResult> GetAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var client = Client;
        var output = await client.WaitForOutputAsync(Id, timeout, cancellationToken).ConfigureAwait(false)
            ?? throw new TimeoutException($"Call {Id} produced no result within {timeout}.");
        return await client.DecodeAsync<TResult>(_function, output, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Cancels the call: inputs not yet finished are marked cancelled and never retried, and those running have the
    /// <see cref="CancellationToken"/> their function takes cancelled. Waiting callers get
    /// <see cref="InputCancelledException"/> at once.
    /// </summary>
    public Task CancelAsync(CancellationToken cancellationToken = default) =>
        Client.CancelCallAsync(Id, cancellationToken);

    /// <inheritdoc />
    public override string ToString() => Id;
}
