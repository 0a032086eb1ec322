using System.Text.Json;
using Ferry.Hosting;
using Ferry.Serialization;

namespace Ferry;

/// <summary>
/// Calls generator functions: those whose result is <see cref="IAsyncEnumerable{T}"/> (Modal's <c>remote_gen</c>).
/// The items reach the caller while the function runs, in order, each once.
/// </summary>
/// <remarks>
/// <para>
/// At most <see cref="Protocol.ProtocolInfo.StreamWindowItems"/> items (1024), or
/// <see cref="Protocol.ProtocolInfo.StreamWindowBytes"/> bytes of them (4 MiB, plus one item), are in flight per call:
/// yielded in the container and not yet read by the caller. Past that the generator is not resumed until the caller
/// reads on, so a slow caller slows the generator and nothing buffers without bound. One item may be at most 2 MiB of JSON.
/// </para>
/// <para>
/// When the caller stops early (breaks out of <c>await foreach</c>, disposes the enumerator, or cancels
/// <c>cancellationToken</c>) the call is cancelled, and the generator's <see cref="CancellationToken"/> (its
/// <c>[EnumeratorCancellation]</c> parameter, or a trailing <see cref="CancellationToken"/> parameter) is cancelled in the
/// container. An exception the generator throws reaches the caller after the items yielded before it.
/// </para>
/// <para>
/// A generator call is never retried, whatever the function's <see cref="FunctionOptions.Retries"/>: running it again
/// would repeat items the caller already has. If its container is lost, the caller gets the error.
/// </para>
/// </remarks>
public static class FunctionStreaming
{
    /// <summary>Runs the generator in a container and streams its items as it yields them.</summary>
    /// <param name="function">The generator function.</param>
    /// <param name="cancellationToken">Stops reading and cancels the call.</param>
    /// <returns>The items, in the order the generator yielded them. The call starts when enumeration starts.</returns>
    /// <exception cref="RemoteException">The generator threw, after the items it had yielded; raised by the enumeration.</exception>
    /// <exception cref="FunctionTimeoutException">The generator ran past the function's timeout.</exception>
    /// <exception cref="InputCancelledException">The call was cancelled elsewhere, or its app stopped.</exception>
    public static IAsyncEnumerable<TItem> RemoteStreamAsync<TItem>(this Function<IAsyncEnumerable<TItem>> function, CancellationToken cancellationToken = default) =>
        Stream<TItem>(function, Payload.Pack(static _ => { }), cancellationToken);

    /// <inheritdoc cref="RemoteStreamAsync{TItem}(Function{IAsyncEnumerable{TItem}}, CancellationToken)"/>
    /// <param name="function">The generator function.</param>
    /// <param name="arg">The argument.</param>
    /// <param name="cancellationToken">Stops reading and cancels the call.</param>
    public static IAsyncEnumerable<TItem> RemoteStreamAsync<T1, TItem>(this Function<T1, IAsyncEnumerable<TItem>> function, T1 arg, CancellationToken cancellationToken = default) =>
        Stream<TItem>(function, Payload.Pack(w => Payload.Write(w, arg)), cancellationToken);

    /// <inheritdoc cref="RemoteStreamAsync{TItem}(Function{IAsyncEnumerable{TItem}}, CancellationToken)"/>
    /// <param name="function">The generator function.</param>
    /// <param name="arg1">The first argument.</param>
    /// <param name="arg2">The second argument.</param>
    /// <param name="cancellationToken">Stops reading and cancels the call.</param>
    public static IAsyncEnumerable<TItem> RemoteStreamAsync<T1, T2, TItem>(this Function<T1, T2, IAsyncEnumerable<TItem>> function, T1 arg1, T2 arg2, CancellationToken cancellationToken = default) =>
        Stream<TItem>(function, Payload.Pack(w => { Payload.Write(w, arg1); Payload.Write(w, arg2); }), cancellationToken);

    /// <inheritdoc cref="RemoteStreamAsync{TItem}(Function{IAsyncEnumerable{TItem}}, CancellationToken)"/>
    /// <param name="function">The generator function.</param>
    /// <param name="arg1">The first argument.</param>
    /// <param name="arg2">The second argument.</param>
    /// <param name="arg3">The third argument.</param>
    /// <param name="cancellationToken">Stops reading and cancels the call.</param>
    public static IAsyncEnumerable<TItem> RemoteStreamAsync<T1, T2, T3, TItem>(this Function<T1, T2, T3, IAsyncEnumerable<TItem>> function, T1 arg1, T2 arg2, T3 arg3, CancellationToken cancellationToken = default) =>
        Stream<TItem>(function, Payload.Pack(w => { Payload.Write(w, arg1); Payload.Write(w, arg2); Payload.Write(w, arg3); }), cancellationToken);

    /// <summary>The one place the typed overloads reach the client.</summary>
    private static IAsyncEnumerable<TItem> Stream<TItem>(Function function, JsonElement args, CancellationToken cancellationToken) =>
        Invocation.StreamAsync<TItem>(FerryContext.Client, function.Name, function.Pool, args, cancellationToken);
}
