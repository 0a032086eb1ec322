namespace Ferry.Server.Storage;

/// <summary>A named volume: its current version, and the count and total size of that version's files.</summary>
internal sealed record VolumeRecord(string Name, long Version, long Files, long Bytes, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>A file of a volume's manifest: a path relative to the volume's root, a blob hash, a size and Unix mode bits.</summary>
internal sealed record VolumeFileRecord(string Path, string Hash, long Size, int Mode);

/// <summary>What a commit to a volume did.</summary>
internal enum VolumeCommitOutcome
{
    Committed,
    NoVolume,
    TooManyFiles,
}

/// <summary>
/// Volumes: each a named, versioned manifest of paths to content hashes; the contents are blobs of the blob store. A
/// commit runs whole in the store's single writer and makes one new version. Last write wins per path: a put replaces
/// the file at its path, and removes any file at a path that would be its directory (<c>a</c> for <c>a/b</c>) or
/// under it (<c>a/b/c</c> for <c>a/b</c>), so the manifest stays a tree.
/// </summary>
internal interface IVolumeStore
{
    /// <summary>Creates an empty volume at version 0 if missing; true if this call created it.</summary>
    Task<bool> CreateVolumeAsync(string name, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>The volume, or null.</summary>
    Task<VolumeRecord?> GetVolumeAsync(string name, CancellationToken cancellationToken);

    /// <summary>Every volume, by name.</summary>
    Task<IReadOnlyList<VolumeRecord>> ListVolumesAsync(CancellationToken cancellationToken);

    /// <summary>Deletes a volume and its manifest; false if there was none. Blobs stay in the blob store.</summary>
    Task<bool> DeleteVolumeAsync(string name, CancellationToken cancellationToken);

    /// <summary>
    /// The volume's version and the files of that version (all of them when <paramref name="under"/> is empty, else
    /// those whose path is <paramref name="under"/> or starts with it and a '/'), by path in ordinal order, read
    /// together; null if there is no such volume.
    /// </summary>
    Task<(long Version, IReadOnlyList<VolumeFileRecord> Files)?> GetVolumeFilesAsync(string name, string under, CancellationToken cancellationToken);

    /// <summary>
    /// Removes <paramref name="removed"/>, then writes <paramref name="put"/> (last write wins, as described on the
    /// interface), as one new version. Refused, changing nothing, when the volume would hold more than
    /// <paramref name="maxFiles"/> files.
    /// </summary>
    Task<(VolumeCommitOutcome Outcome, long Version)> CommitVolumeAsync(string name, IReadOnlyList<VolumeFileRecord> put, IReadOnlyList<string> removed, int maxFiles,
        DateTimeOffset now, CancellationToken cancellationToken);
}

/// <summary>Path ranges that the stores share.</summary>
internal static class VolumeRanges
{
    /// <summary>Every directory a path is under, as paths: <c>a</c> and <c>a/b</c> for <c>a/b/c</c>.</summary>
    public static IEnumerable<string> Ancestors(string path)
    {
        for (var slash = path.IndexOf('/', StringComparison.Ordinal); slash > 0; slash = path.IndexOf('/', slash + 1))
        {
            yield return path[..slash];
        }
    }

    /// <summary>
    /// The bounds of the paths under <paramref name="path"/> in ordinal order: greater than <c>path + "/"</c> and less
    /// than <c>path + "0"</c> ('0' follows '/' in ASCII), so an index range finds them.
    /// </summary>
    public static (string Above, string Below) Under(string path) => (path + "/", path + "0");
}
