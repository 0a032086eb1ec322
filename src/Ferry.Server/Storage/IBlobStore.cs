using System.Security.Cryptography;
using Ferry.Protocol.Transport;

namespace Ferry.Server.Storage;

/// <summary>Content-addressed bytes: app builds, large payloads. Keys are lower-case SHA-256 hex.</summary>
internal interface IBlobStore
{
    bool Exists(string hash);

    /// <summary>Stores the body if its hash matches <paramref name="hash"/>; returns false if it does not.</summary>
    Task<bool> PutAsync(string hash, Stream content, CancellationToken cancellationToken);

    Stream? OpenRead(string hash);

    /// <summary>The blob's size in bytes, or null if the store does not have it.</summary>
    long? Length(string hash);

    /// <summary>The blob's file on this machine's disk, when the store keeps it in one, so it can be sent without copying through the process; else null.</summary>
    string? LocalPath(string hash) => null;
}

/// <summary>Blobs as files under the data dir, written to a temp file and renamed into place.</summary>
internal sealed class FileBlobStore(string root) : IBlobStore
{
    public static bool IsHash(string hash) => hash.Length == 64 && hash.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');

    private string PathOf(string hash) => Path.Combine(root, hash[..2], hash);

    public bool Exists(string hash) => IsHash(hash) && File.Exists(PathOf(hash));

    public async Task<bool> PutAsync(string hash, Stream content, CancellationToken cancellationToken)
    {
        var path = PathOf(hash);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            string actual;
            // Large reads, unbuffered writes, and the hash of one chunk beside the write of it and the read of the
            // next: volume files of a GiB pass through here.
            await using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous))
            {
                (actual, _) = await HashingCopy.CopyAsync(content, [file], cancellationToken).ConfigureAwait(false);
            }
            if (!string.Equals(actual, hash, StringComparison.Ordinal))
            {
                return false;
            }
            File.Move(temp, path, overwrite: true);
            return true;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    public Stream? OpenRead(string hash) => Exists(hash) ? File.OpenRead(PathOf(hash)) : null;

    public string? LocalPath(string hash) => Exists(hash) ? PathOf(hash) : null;

    public long? Length(string hash) => IsHash(hash) && new FileInfo(PathOf(hash)) is { Exists: true } file ? file.Length : null;
}
