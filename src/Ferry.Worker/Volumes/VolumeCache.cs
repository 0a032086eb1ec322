using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Ferry.Protocol;

namespace Ferry.Worker.Volumes;

/// <summary>A volume made ready for one container: its files on this worker's disk, and where the container finds them.</summary>
/// <param name="Mount">The function's mount: the volume and the path it asked for.</param>
/// <param name="HostDir">The container's copy of the files.</param>
/// <param name="StateFile">The host path of the copy's <see cref="VolumeBase"/>.</param>
public sealed record PreparedVolume(VolumeMount Mount, string HostDir, string StateFile);

/// <summary>
/// Gives each container its own copy of the volumes it mounts, at the version that is latest when it starts: the
/// manifest is read from the control plane, missing contents are fetched over its blob API into a cache on this
/// worker's disk (by hash, each fetched once and checked), and reflinked or copied into the container's directory (see <see cref="FileClone"/>). The cache is
/// kept: a volume's files that several containers use travel once. Every path is resolved inside the container's
/// directory and refused if it would leave it.
/// </summary>
internal sealed class VolumeCache(HttpClient http, string root)
{
    private const int BufferSize = 1 << 20;
    private readonly string _blobs = Path.Combine(Path.GetFullPath(root), "blobs");
    private readonly string _containers = Path.Combine(Path.GetFullPath(root), "containers");
    private readonly ConcurrentDictionary<string, Lazy<Task<(string Cached, string? Written)>>> _fetching = new(StringComparer.Ordinal);

    /// <summary>The directory that holds one container's copies and their state files.</summary>
    public string ContainerDir(string containerId) => Path.Combine(_containers, containerId);

    /// <exception cref="InvalidOperationException">A volume does not exist, or its manifest names a path that leaves the volume.</exception>
    public async Task<IReadOnlyList<PreparedVolume>> PrepareAsync(string containerId, IReadOnlyList<VolumeMount> mounts, CancellationToken cancellationToken)
    {
        var prepared = new List<PreparedVolume>(mounts.Count);
        if (mounts.Count == 0)
        {
            return prepared;
        }
        var containerDir = ConfinedPath.Resolve(_containers, containerId);
        if (containerDir is null || containerDir == _containers)
        {
            throw new InvalidOperationException($"The container id '{containerId}' is not a plain name.");
        }
        for (var i = 0; i < mounts.Count; i++)
        {
            var mount = mounts[i];
            var manifest = await ManifestAsync(mount.Volume, cancellationToken).ConfigureAwait(false);
            var dir = Path.Combine(containerDir, "m" + i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Directory.CreateDirectory(dir);
            var files = new VolumeBaseFile[manifest.Files.Count];
            await Parallel.ForEachAsync(Enumerable.Range(0, files.Length), new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancellationToken }, async (k, ct) =>
            {
                var file = manifest.Files[k];
                var target = ConfinedPath.Resolve(dir, file.Path);
                if (target is null || target == dir)
                {
                    throw new InvalidOperationException($"Volume '{mount.Volume}' has a path that leaves the volume: '{file.Path}'.");
                }
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                var (cached, written) = await BlobAsync(file.Hash, target, ct).ConfigureAwait(false);
                if (written != target)
                {
                    FileClone.CloneOrCopy(cached, target);
                }
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(target, (UnixFileMode)file.Mode);
                }
                files[k] = new VolumeBaseFile(file.Path, file.Hash, file.Size, file.Mode, File.GetLastWriteTimeUtc(target).Ticks);
            }).ConfigureAwait(false);
            var state = dir + ".json";
            await File.WriteAllBytesAsync(state, JsonSerializer.SerializeToUtf8Bytes(new VolumeBase(manifest.Version, files), ProtocolJsonContext.Default.VolumeBase),
                cancellationToken).ConfigureAwait(false);
            prepared.Add(new PreparedVolume(mount, dir, state));
        }
        return prepared;
    }

    /// <summary>Removes a container's copies once it has exited (it committed what it meant to keep before).</summary>
    public void Release(string containerId)
    {
        if (ConfinedPath.Resolve(_containers, containerId) is { } dir && dir != _containers && Directory.Exists(dir))
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private async Task<VolumeManifest> ManifestAsync(string volume, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync("/" + Routes.VolumeManifest(volume), cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            throw new InvalidOperationException($"Volume '{volume}' does not exist; create it with Volume.FromName(\"{volume}\", createIfMissing: true) or `ferry volume create {volume}`.");
        }
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync(ProtocolJsonContext.Default.VolumeManifest, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"The control plane sent no manifest for volume '{volume}'.");
    }

    /// <summary>
    /// The cached file of a blob, fetched first if this worker lacks it; concurrent askers share one fetch. The asker
    /// that starts a fetch has its own copy written from the same stream, and gets back its <paramref name="target"/>
    /// as the second item; the others get null there and make their copies from the cache.
    /// </summary>
    private Task<(string Cached, string? Written)> BlobAsync(string hash, string target, CancellationToken cancellationToken)
    {
        if (hash.Length != 64 || !hash.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f'))
        {
            throw new InvalidOperationException($"'{hash}' is not a content hash.");
        }
        var path = Path.Combine(_blobs, hash[..2], hash);
        if (File.Exists(path))
        {
            return Task.FromResult<(string, string?)>((path, null));
        }
        var lazy = _fetching.GetOrAdd(hash, h => new Lazy<Task<(string, string?)>>(() => FetchAsync(h, path, target)));
        var task = lazy.Value;
        if (task.IsFaulted)
        {
            _fetching.TryRemove(new KeyValuePair<string, Lazy<Task<(string Cached, string? Written)>>>(hash, lazy));
        }
        return task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Downloads a blob into the cache and, from the same bytes, into <paramref name="copy"/>: two files, so the
    /// container's writes never reach the cache, without reading the cached file back to copy it. Both are written
    /// beside their places and renamed into them only once the hash checks.
    /// </summary>
    private async Task<(string Cached, string? Written)> FetchAsync(string hash, string path, string copy)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        var copyTemp = Path.Combine(Path.GetDirectoryName(copy)!, $".{Path.GetFileName(copy)}.ferry-{Guid.NewGuid():N}");
        try
        {
            using (var response = await http.GetAsync("/" + Routes.Blob(hash), HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false))
            {
                response.EnsureSuccessStatusCode();
                await using var source = await response.Content.ReadAsStreamAsync().ConfigureAwait(false);
                await using var target = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous);
                await using var second = new FileStream(copyTemp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous);
                using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[BufferSize];
                int read;
                while ((read = await source.ReadAsync(buffer).ConfigureAwait(false)) > 0)
                {
                    sha.AppendData(buffer, 0, read);
                    var chunk = buffer.AsMemory(0, read);
                    await Task.WhenAll(target.WriteAsync(chunk).AsTask(), second.WriteAsync(chunk).AsTask()).ConfigureAwait(false);
                }
                if (Convert.ToHexStringLower(sha.GetHashAndReset()) != hash)
                {
                    throw new InvalidOperationException($"The volume content with hash {hash} arrived corrupted.");
                }
            }
            File.Move(temp, path, overwrite: true);
            File.Move(copyTemp, copy, overwrite: true);
            return (path, copy);
        }
        finally
        {
            File.Delete(temp);
            File.Delete(copyTemp);
            _fetching.TryRemove(hash, out _);
        }
    }
}
