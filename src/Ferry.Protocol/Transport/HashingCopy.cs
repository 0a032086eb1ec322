using System.Security.Cryptography;

namespace Ferry.Protocol.Transport;

/// <summary>
/// Hashes a stream of content (a volume file, a blob) with SHA-256 while copying it to any number of targets, with
/// the read of the next chunk, the hash of this one and its writes in flight at once, so a large file costs the
/// slowest of the three rather than their sum.
/// </summary>
public static class HashingCopy
{
    /// <summary>The size of each chunk read: 1 MiB.</summary>
    public const int ChunkBytes = 1 << 20;

    /// <summary>Reads <paramref name="source"/> to its end, hashing it and writing it to every one of <paramref name="targets"/> (none to only hash it).</summary>
    /// <returns>The lower-case hex SHA-256 of the content, and its length in bytes.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static async Task<(string Hash, long Length)> CopyAsync(Stream source, IReadOnlyList<Stream> targets, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(targets);
        byte[][] buffers = [new byte[ChunkBytes], new byte[ChunkBytes]];
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long total = 0;
        var current = 0;
        Task writing = Task.CompletedTask;
        var read = await ReadChunkAsync(source, buffers[current], cancellationToken).ConfigureAwait(false);
        while (read > 0)
        {
            // The other buffer is free once the writes of the chunk it held are done.
            await writing.ConfigureAwait(false);
            var chunk = buffers[current].AsMemory(0, read);
            writing = targets.Count switch
            {
                0 => Task.CompletedTask,
                1 => targets[0].WriteAsync(chunk, cancellationToken).AsTask(),
                _ => Task.WhenAll(targets.Select(t => t.WriteAsync(chunk, cancellationToken).AsTask())),
            };
            var next = Task.Run(() => ReadChunkAsync(source, buffers[1 - current], cancellationToken), cancellationToken);
            sha.AppendData(chunk.Span);
            total += read;
            read = await next.ConfigureAwait(false);
            current = 1 - current;
        }
        await writing.ConfigureAwait(false);
        return (Convert.ToHexStringLower(sha.GetHashAndReset()), total);
    }

    /// <summary>Fills <paramref name="buffer"/> unless the stream ends first; returns how much it read.</summary>
    private static async Task<int> ReadChunkAsync(Stream source, byte[] buffer, CancellationToken cancellationToken)
    {
        var total = 0;
        int read;
        while (total < buffer.Length && (read = await source.ReadAsync(buffer.AsMemory(total), cancellationToken).ConfigureAwait(false)) > 0)
        {
            total += read;
        }
        return total;
    }
}
