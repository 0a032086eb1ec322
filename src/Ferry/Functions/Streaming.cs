using System.Text.Json;

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
public static partial class FunctionStreaming
{
    // The RemoteStreamAsync overloads, one per arity, are generated while the SDK builds (see src/Ferry.SdkGenerator).

    /// <summary>The one place the typed overloads reach the client.</summary>
    private static IAsyncEnumerable<TItem> StreamAsync<TItem>(Function function, JsonElement args, CancellationToken cancellationToken) =>
        Invocation.StreamAsync<TItem>(function.Client, function.Name, function.Pool, args, cancellationToken);
}
