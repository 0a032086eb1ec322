using System.Security.Cryptography;
using System.Text.Json;
using Ferry.Client;
using Ferry.Protocol;
using Ferry.Protocol.Transport;

namespace Ferry;

/// <summary>What one commit of a mounted volume did.</summary>
/// <param name="Version">The volume's version the commit made, or the one it started from if nothing changed.</param>
/// <param name="Hashed">The paths whose contents were read to hash them (their size, modification time or mode had moved).</param>
/// <param name="Uploaded">The paths whose contents were sent to the server (it lacked them).</param>
/// <param name="Removed">The paths the commit removed from the volume.</param>
internal sealed record VolumeCommitSummary(long Version, IReadOnlyList<string> Hashed, IReadOnlyList<string> Uploaded, IReadOnlyList<string> Removed);

/// <summary>The volumes mounted in this container, from <see cref="FerryEnv.Volumes"/>, read once.</summary>
internal static class VolumeMounts
{
    private static readonly Lazy<IReadOnlyDictionary<string, VolumeSync>> Mounts = new(Read);

    public static VolumeSync? Find(string name) => Mounts.Value.GetValueOrDefault(name);

    public static IEnumerable<VolumeSync> All => Mounts.Value.Values;

    private static IReadOnlyDictionary<string, VolumeSync> Read()
    {
        if (Environment.GetEnvironmentVariable(FerryEnv.Volumes) is not { Length: > 0 } json)
        {
            return new Dictionary<string, VolumeSync>();
        }
        var states = JsonSerializer.Deserialize(json, ProtocolJsonContext.Default.ListVolumeMountState) ?? [];
        return states.ToDictionary(s => s.Volume, s => new VolumeSync(s), StringComparer.Ordinal);
    }

    /// <summary>Commits every mounted volume, as the container exits; a failure is reported and the others still commit.</summary>
    public static async Task CommitAllAsync(FerryClient client, TextWriter errors, CancellationToken cancellationToken)
    {
        foreach (var mount in All)
        {
            try
            {
                await mount.CommitAsync(client, cancellationToken, reload: false).ConfigureAwait(false);
            }
            catch (Exception e) when (e is FerryException or IOException or UnauthorizedAccessException or HttpRequestException or OperationCanceledException)
            {
                await errors.WriteLineAsync($"Committing volume '{mount.State.Volume}' at exit failed; its uncommitted changes are lost: {e.Message}").ConfigureAwait(false);
            }
        }
    }
}

/// <summary>
/// One mounted volume's copy in this container, and the record of what it was at its last load or commit
/// (<see cref="VolumeBase"/>, in <see cref="VolumeMountState.StateFile"/>). Commits and reloads of it run one at a time.
/// </summary>
internal sealed class VolumeSync(VolumeMountState state)
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    public VolumeMountState State => state;

    /// <summary>Publishes what changed in the copy since it was loaded or last committed, then reloads it unless told not to.</summary>
    /// <returns>What the commit read and sent: the paths it hashed, the paths whose contents it uploaded, the paths it removed.</returns>
    public async Task<VolumeCommitSummary> CommitAsync(FerryClient client, CancellationToken cancellationToken, bool reload = true)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var before = LoadBase();
            var known = before.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
            var kept = new List<VolumeBaseFile>();
            var changed = new List<(VolumeFile File, string Local, long Mtime)>();
            var hashed = new List<string>();
            foreach (var (path, local) in Scan(state.Dir))
            {
                var info = new FileInfo(local);
                var mtime = info.LastWriteTimeUtc.Ticks;
                var mode = ModeOf(local);
                if (known.Remove(path, out var was) && was.Size == info.Length && was.MtimeTicks == mtime && was.Mode == mode)
                {
                    kept.Add(was);
                    continue;
                }
                var (hash, size) = await HashFileAsync(local, cancellationToken).ConfigureAwait(false);
                hashed.Add(path);
                if (was is not null && was.Hash == hash && was.Mode == mode)
                {
                    kept.Add(was with { Size = size, MtimeTicks = mtime });
                    continue;
                }
                changed.Add((new VolumeFile(path, hash, size, mode), local, mtime));
            }
            var removed = known.Keys.ToList();
            var version = before.Version;
            IReadOnlyList<string> uploaded = [];
            if (changed.Count > 0 || removed.Count > 0)
            {
                uploaded = await UploadMissingAsync(client, [.. changed.Select(c => (c.File, c.Local))], null, cancellationToken).ConfigureAwait(false);
                version = (await client.SendAsync(HttpMethod.Post, Routes.VolumeCommit(state.Volume), new VolumeCommitRequest([.. changed.Select(c => c.File)], removed),
                    ProtocolJsonContext.Default.VolumeCommitRequest, ProtocolJsonContext.Default.VolumeCommitResponse, cancellationToken).ConfigureAwait(false)).Version;
            }
            // The base version stays the one loaded: the reload below compares against the server's latest, which
            // may hold others' commits made since.
            SaveBase(new VolumeBase(before.Version, [.. kept, .. changed.Select(c => new VolumeBaseFile(c.File.Path, c.File.Hash, c.File.Size, c.File.Mode, c.Mtime))]));
            if (reload)
            {
                await ReloadLockedAsync(client, cancellationToken).ConfigureAwait(false);
            }
            else if (version != before.Version)
            {
                SaveBase(LoadBase() with { Version = version });
            }
            return new VolumeCommitSummary(version, hashed, uploaded, removed);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task ReloadAsync(FerryClient client, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await ReloadLockedAsync(client, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task ReloadLockedAsync(FerryClient client, CancellationToken cancellationToken)
    {
        var before = LoadBase();
        var manifest = await client.SendAsync<object, VolumeManifest>(HttpMethod.Get, Routes.VolumeManifest(state.Volume), null, null,
            ProtocolJsonContext.Default.VolumeManifest, cancellationToken).ConfigureAwait(false);
        var known = before.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
        var after = new List<VolumeBaseFile>(manifest.Files.Count);
        var wanted = manifest.Files.Select(f => f.Path).ToHashSet(StringComparer.Ordinal);
        // Files the new version no longer has go first, so a file may take the place of a removed directory.
        foreach (var gone in known.Keys.Where(p => !wanted.Contains(p)))
        {
            var local = Local(gone);
            if (File.Exists(local))
            {
                File.Delete(local);
            }
        }
        foreach (var file in manifest.Files)
        {
            var local = Local(file.Path);
            if (known.TryGetValue(file.Path, out var was) && was.Hash == file.Hash && was.Mode == file.Mode)
            {
                after.Add(was);
                continue;
            }
            await DownloadAsync(client, file, local, cancellationToken).ConfigureAwait(false);
            after.Add(new VolumeBaseFile(file.Path, file.Hash, file.Size, file.Mode, new FileInfo(local).LastWriteTimeUtc.Ticks));
        }
        SaveBase(new VolumeBase(manifest.Version, after));
    }

    /// <summary>Writes one file of the manifest into place: downloaded beside it, checked against its hash, then renamed over it.</summary>
    private static async Task DownloadAsync(FerryClient client, VolumeFile file, string local, CancellationToken cancellationToken)
    {
        PrepareParent(local);
        var temp = Path.Combine(Path.GetDirectoryName(local)!, $".{Path.GetFileName(local)}.ferry-{Guid.NewGuid():N}");
        try
        {
            using (var response = await client.GetStreamAsync(Routes.Blob(file.Hash), cancellationToken).ConfigureAwait(false))
            await using (var source = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false))
            await using (var target = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous))
            {
                var (actual, _) = await HashingCopy.CopyAsync(source, [target], cancellationToken).ConfigureAwait(false);
                if (actual != file.Hash)
                {
                    throw new FerryException($"The content of '{file.Path}' arrived corrupted (it does not hash to {file.Hash}).");
                }
            }
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(temp, (UnixFileMode)file.Mode);
            }
            if (Directory.Exists(local))
            {
                Directory.Delete(local, recursive: true);
            }
            File.Move(temp, local, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Makes the directories above a file, replacing any file that stands where one of them goes.</summary>
    private static void PrepareParent(string local)
    {
        var parent = Path.GetDirectoryName(local)!;
        for (var dir = parent; !Directory.Exists(dir); dir = Path.GetDirectoryName(dir)!)
        {
            if (File.Exists(dir))
            {
                File.Delete(dir);
                break;
            }
        }
        Directory.CreateDirectory(parent);
    }

    private string Local(string path) => Path.Combine(state.Dir, path.Replace('/', Path.DirectorySeparatorChar));

    private VolumeBase LoadBase() => File.Exists(state.StateFile)
        ? JsonSerializer.Deserialize(File.ReadAllBytes(state.StateFile), ProtocolJsonContext.Default.VolumeBase) ?? new VolumeBase(0, [])
        : new VolumeBase(0, []);

    private void SaveBase(VolumeBase value)
    {
        var temp = state.StateFile + ".tmp";
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(value, ProtocolJsonContext.Default.VolumeBase));
        File.Move(temp, state.StateFile, overwrite: true);
    }

    /// <summary>Every regular file under <paramref name="root"/>, with its volume path; links and special files are not part of a volume.</summary>
    internal static IEnumerable<(string Path, string Local)> Scan(string root)
    {
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint, IgnoreInaccessible = false };
        foreach (var local in Directory.EnumerateFiles(root, "*", options))
        {
            var name = Path.GetFileName(local);
            if (name.StartsWith('.') && name.Contains(".ferry-", StringComparison.Ordinal))
            {
                continue;
            }
            yield return (Path.GetRelativePath(root, local).Replace(Path.DirectorySeparatorChar, '/'), local);
        }
    }

    internal static int ModeOf(string path) => OperatingSystem.IsWindows() ? 0b110_100_100 : (int)File.GetUnixFileMode(path) & 0xFFF;

    /// <summary>The SHA-256 of a file and its size, read once, sequentially.</summary>
    internal static async Task<(string Hash, long Size)> HashFileAsync(string path, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return await HashingCopy.CopyAsync(file, [], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Uploads the files whose contents the server lacks, each streamed from disk, reporting the running total of bytes sent.</summary>
    /// <returns>The volume paths of the files whose contents were sent.</returns>
    internal static async Task<IReadOnlyList<string>> UploadMissingAsync(FerryClient client, IReadOnlyList<(VolumeFile File, string Local)> files, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        if (files.Count == 0)
        {
            return [];
        }
        if (files.FirstOrDefault(f => f.File.Size > ProtocolInfo.MaxBlobBytes) is { File: { } big })
        {
            throw new RequestSizeException($"'{big.Path}' is {big.Size} bytes; a volume file may be at most {ProtocolInfo.MaxBlobBytes / (1024 * 1024)} MiB (the server's blob limit).");
        }
        var missing = await client.SendAsync(HttpMethod.Post, Routes.MissingBlobs, new MissingBlobsRequest([.. files.Select(f => f.File.Hash).Distinct()]),
            ProtocolJsonContext.Default.MissingBlobsRequest, ProtocolJsonContext.Default.MissingBlobsResponse, cancellationToken).ConfigureAwait(false);
        var wanted = missing.Missing.ToHashSet(StringComparer.Ordinal);
        long sent = 0;
        var uploaded = new List<string>();
        foreach (var (file, local) in files)
        {
            if (!wanted.Remove(file.Hash))
            {
                continue;
            }
            var start = sent;
            await client.UploadFileBlobAsync(file.Hash, local, progress is null ? null : new Offset(progress, start), cancellationToken).ConfigureAwait(false);
            sent += file.Size;
            progress?.Report(sent);
            uploaded.Add(file.Path);
        }
        return uploaded;
    }

    private sealed class Offset(IProgress<long> inner, long start) : IProgress<long>
    {
        public void Report(long value) => inner.Report(start + value);
    }
}
