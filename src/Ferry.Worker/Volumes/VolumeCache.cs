using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Ferry.Protocol;
using Ferry.Protocol.Transport;

namespace Ferry.Worker.Volumes;

/// <summary>A volume made ready for one container: its files on this worker's disk, and where the container finds them.</summary>
/// <param name="Mount">The function's mount: the volume and the path it asked for.</param>
/// <param name="HostDir">The container's copy of the files.</param>
/// <param name="StateFile">The host path of the copy's <see cref="VolumeBase"/>.</param>
public sealed record PreparedVolume(VolumeMount Mount, string HostDir, string StateFile);

/// <summary>
/// Gives each container its own view of the volumes it mounts, at the version that is latest when it starts: the
/// manifest is read from the control plane, and missing contents are fetched over its blob API into a cache on this
/// worker's disk (by hash, each fetched once and checked). The cache is kept: a volume's files that several containers
/// use travel once. Every path is resolved inside the container's directory and refused if it would leave it.
/// </summary>
/// <remarks>
/// Where the worker may mount overlays (Linux, as root), a container's view copies no file bytes: the manifest is laid
/// out once per version as a tree of hard links into the cache (<see cref="Overlay"/>), shared read-only by every
/// container that mounts that version, under an upper layer of the container's own that takes its writes. Elsewhere
/// each file is reflinked or copied from the cache into the container's directory (see <see cref="FileClone"/>).
/// </remarks>
internal sealed class VolumeCache
{
    private readonly HttpClient _http;
    private readonly string _blobs;
    private readonly string _containers;
    private readonly string _trees;
    private readonly string _uppers;
    private readonly string? _serverBlobs;
    private readonly ConcurrentDictionary<string, Lazy<Task<(string Cached, string? Written)>>> _fetching = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Tree> _treesInUse = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, List<(string MountPoint, string Tree)>> _overlays = new(StringComparer.Ordinal);
    private volatile bool _overlayUnavailable;

    /// <param name="http">The control plane's API, with this worker's credentials.</param>
    /// <param name="root">The directory of the cache, the version trees and the containers' views.</param>
    /// <param name="serverBlobs">The control plane's blob directory on this machine, to link contents from (<see cref="WorkerOptions.ServerBlobDir"/>); null to download them.</param>
    public VolumeCache(HttpClient http, string root, string? serverBlobs = null)
    {
        _http = http;
        _serverBlobs = serverBlobs is null ? null : Path.GetFullPath(serverBlobs);
        root = Path.GetFullPath(root);
        _blobs = Path.Combine(root, "blobs");
        _containers = Path.Combine(root, "containers");
        _trees = Path.Combine(root, "trees");
        _uppers = Path.Combine(root, "uppers");
        // What a worker that stopped without cleaning up left behind: its containers are gone, so are their views.
        foreach (var point in Overlay.MountsUnder(root))
        {
            Overlay.Unmount(point);
        }
        foreach (var dir in new[] { _containers, _trees, _uppers })
        {
            DeleteQuietly(dir);
        }
    }

    /// <summary>Whether containers' views are overlays (true) or copies (false); true until an overlay could not be mounted.</summary>
    public bool UsesOverlays => !_overlayUnavailable;

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
            var name = "m" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var dir = Path.Combine(containerDir, name);
            Directory.CreateDirectory(dir);
            var files = (_overlayUnavailable ? null : await OverlayAsync(containerId, name, mount.Volume, manifest, dir, cancellationToken).ConfigureAwait(false))
                ?? await CopyAsync(mount.Volume, manifest, dir, cancellationToken).ConfigureAwait(false);
            var state = dir + ".json";
            await File.WriteAllBytesAsync(state, JsonSerializer.SerializeToUtf8Bytes(new VolumeBase(manifest.Version, files), ProtocolJsonContext.Default.VolumeBase),
                cancellationToken).ConfigureAwait(false);
            prepared.Add(new PreparedVolume(mount, dir, state));
        }
        return prepared;
    }

    /// <summary>
    /// Mounts an overlay at <paramref name="dir"/>: the version's tree of links into the cache below, the container's
    /// own layer above. Null if this host cannot mount one; the caller copies instead, and so does every later call.
    /// </summary>
    private async Task<VolumeBaseFile[]?> OverlayAsync(string containerId, string name, string volume, VolumeManifest manifest, string dir, CancellationToken cancellationToken)
    {
        var key = TreeKey(manifest);
        var tree = await AcquireTreeAsync(key, volume, manifest, cancellationToken).ConfigureAwait(false);
        var mounted = false;
        try
        {
            var layer = Path.Combine(_uppers, containerId, name);
            var upper = Path.Combine(layer, "upper");
            var work = Path.Combine(layer, "work");
            Directory.CreateDirectory(upper);
            Directory.CreateDirectory(work);
            if (Overlay.TryMount(tree, upper, work, dir) == Overlay.MountResult.Unavailable)
            {
                _overlayUnavailable = true;
                DeleteQuietly(layer);
                return null;
            }
            mounted = true;
            _overlays.AddOrUpdate(containerId, _ => [(dir, key)], (_, list) =>
            {
                lock (list)
                {
                    list.Add((dir, key));
                }
                return list;
            });
            var files = new VolumeBaseFile[manifest.Files.Count];
            for (var k = 0; k < files.Length; k++)
            {
                var file = manifest.Files[k];
                var local = Path.Combine(dir, file.Path.Replace('/', Path.DirectorySeparatorChar));
                files[k] = new VolumeBaseFile(file.Path, file.Hash, file.Size, file.Mode, File.GetLastWriteTimeUtc(local).Ticks);
            }
            return files;
        }
        finally
        {
            if (!mounted)
            {
                ReleaseTree(key);
            }
        }
    }

    /// <summary>Copies (or reflinks) every file of the version into <paramref name="dir"/>, from the cache or from the same stream that fills it.</summary>
    private async Task<VolumeBaseFile[]> CopyAsync(string volume, VolumeManifest manifest, string dir, CancellationToken cancellationToken)
    {
        var files = new VolumeBaseFile[manifest.Files.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, files.Length), new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancellationToken }, async (k, ct) =>
        {
            var file = manifest.Files[k];
            var target = Confined(dir, volume, file.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            var (cached, written) = await BlobAsync(file.Hash, target, file.Mode, ct).ConfigureAwait(false);
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
        return files;
    }

    private static string Confined(string dir, string volume, string path) =>
        ConfinedPath.Resolve(dir, path) is { } target && target != dir
            ? target
            : throw new InvalidOperationException($"Volume '{volume}' has a path that leaves the volume: '{path}'.");

    /// <summary>Names a version's tree by what it holds, so two volumes or two versions with the same files share one.</summary>
    private static string TreeKey(VolumeManifest manifest)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var file in manifest.Files)
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes($"{file.Path}\0{file.Hash}\0{file.Mode}\n"));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>The version's tree of links, built once and shared while any container mounts it; each call holds it until <see cref="ReleaseTree"/>.</summary>
    private async Task<string> AcquireTreeAsync(string key, string volume, VolumeManifest manifest, CancellationToken cancellationToken)
    {
        Tree tree;
        lock (_treesInUse)
        {
            if (!_treesInUse.TryGetValue(key, out tree!))
            {
                var path = Path.Combine(_trees, key);
                tree = new Tree(path, new Lazy<Task>(() => BuildTreeAsync(path, volume, manifest)));
                _treesInUse[key] = tree;
            }
            tree.Holders++;
        }
        try
        {
            await tree.Built.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
            return tree.Path;
        }
        catch
        {
            ReleaseTree(key);
            throw;
        }
    }

    private void ReleaseTree(string key)
    {
        string? gone = null;
        lock (_treesInUse)
        {
            if (_treesInUse.TryGetValue(key, out var tree) && --tree.Holders == 0)
            {
                _treesInUse.Remove(key);
                if (Directory.Exists(tree.Path))
                {
                    // Renamed away under the lock, so a tree built for the same key next cannot meet its remains.
                    gone = tree.Path + ".gone-" + Guid.NewGuid().ToString("N");
                    Directory.Move(tree.Path, gone);
                }
            }
        }
        if (gone is not null)
        {
            DeleteQuietly(gone);
        }
    }

    /// <summary>Fetches what the cache lacks, then lays the version out beside its place as links into the cache and renames it into place.</summary>
    private async Task BuildTreeAsync(string path, string volume, VolumeManifest manifest)
    {
        var sources = new ConcurrentDictionary<(string Hash, int Mode), string>();
        await Parallel.ForEachAsync(manifest.Files.Select(f => (f.Hash, f.Mode)).Distinct(), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (blob, ct) =>
        {
            var (cached, _) = await BlobAsync(blob.Hash, null, blob.Mode, ct).ConfigureAwait(false);
            sources[blob] = WithMode(cached, blob.Mode);
        }).ConfigureAwait(false);
        var temp = path + ".new-" + Guid.NewGuid().ToString("N");
        try
        {
            Directory.CreateDirectory(temp);
            foreach (var file in manifest.Files)
            {
                var target = Confined(temp, volume, file.Path);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                var source = sources[(file.Hash, file.Mode)];
                if (!Overlay.TryLink(source, target))
                {
                    File.Copy(source, target);
                }
            }
            DeleteQuietly(path);
            Directory.Move(temp, path);
        }
        finally
        {
            DeleteQuietly(temp);
        }
    }

    /// <summary>
    /// A cached file with the permission bits <paramref name="mode"/>: the cached blob itself if it has them, else a
    /// sibling made once with them. Links share one inode, so a cached file's mode is never changed once it exists.
    /// </summary>
    private static string WithMode(string cached, int mode)
    {
        if (OperatingSystem.IsWindows() || ((int)File.GetUnixFileMode(cached) & 0xFFF) == mode)
        {
            return cached;
        }
        var variant = $"{cached}.{Convert.ToString(mode, 8)}";
        if (!File.Exists(variant))
        {
            var temp = $"{variant}.{Guid.NewGuid():N}.tmp";
            try
            {
                FileClone.CloneOrCopy(cached, temp);
                File.SetUnixFileMode(temp, (UnixFileMode)mode);
                File.Move(temp, variant, overwrite: true);
            }
            finally
            {
                File.Delete(temp);
            }
        }
        return variant;
    }

    /// <summary>Unmounts and removes a container's views once it has exited (it committed what it meant to keep before).</summary>
    public void Release(string containerId)
    {
        if (ConfinedPath.Resolve(_containers, containerId) is not { } dir || dir == _containers)
        {
            return;
        }
        if (_overlays.TryRemove(containerId, out var overlays))
        {
            foreach (var (point, _) in overlays)
            {
                Overlay.Unmount(point);
            }
        }
        // A view must be unmounted before its directory goes, or deleting it would walk into the volume.
        foreach (var point in Overlay.MountsUnder(dir))
        {
            Overlay.Unmount(point);
        }
        DeleteQuietly(dir);
        DeleteQuietly(Path.Combine(_uppers, Path.GetFileName(dir)));
        foreach (var (_, tree) in overlays ?? [])
        {
            ReleaseTree(tree);
        }
    }

    private static void DeleteQuietly(string dir)
    {
        if (Directory.Exists(dir))
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }

    private async Task<VolumeManifest> ManifestAsync(string volume, CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync("/" + Routes.VolumeManifest(volume), cancellationToken).ConfigureAwait(false);
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
    /// that starts a fetch with a <paramref name="target"/> has its own copy written from the same stream, and gets
    /// that path back as the second item; the others get null there and make their copies from the cache. A fetched
    /// blob gets the permission bits <paramref name="mode"/> of the asker that started the fetch.
    /// </summary>
    private Task<(string Cached, string? Written)> BlobAsync(string hash, string? target, int mode, CancellationToken cancellationToken)
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
        var lazy = _fetching.GetOrAdd(hash, h => new Lazy<Task<(string, string?)>>(() => FetchAsync(h, path, target, mode)));
        var task = lazy.Value;
        if (task.IsFaulted)
        {
            _fetching.TryRemove(new KeyValuePair<string, Lazy<Task<(string Cached, string? Written)>>>(hash, lazy));
        }
        return task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Downloads a blob into the cache and, from the same bytes, into <paramref name="copy"/> if there is one: two
    /// files, so the container's writes never reach the cache, without reading the cached file back to copy it. Both
    /// are written beside their places and renamed into them only once the hash checks.
    /// </summary>
    private async Task<(string Cached, string? Written)> FetchAsync(string hash, string path, string? copy, int mode)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (copy is null && LinkFromServer(hash, path))
        {
            _fetching.TryRemove(hash, out _);
            return (path, null);
        }
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        var copyTemp = copy is null ? null : Path.Combine(Path.GetDirectoryName(copy)!, $".{Path.GetFileName(copy)}.ferry-{Guid.NewGuid():N}");
        try
        {
            using (var response = await _http.GetAsync("/" + Routes.Blob(hash), HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false))
            {
                response.EnsureSuccessStatusCode();
                await using var source = await response.Content.ReadAsStreamAsync().ConfigureAwait(false);
                await using var target = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous);
                await using var second = copyTemp is null ? null : new FileStream(copyTemp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous);
                if (response.Content.Headers.ContentLength is { } length)
                {
                    target.SetLength(length);
                    second?.SetLength(length);
                }
                var (actual, _) = await HashingCopy.CopyAsync(source, second is null ? [target] : [target, second]).ConfigureAwait(false);
                if (target.Position != target.Length)
                {
                    throw new InvalidOperationException($"The volume content with hash {hash} arrived short.");
                }
                if (actual != hash)
                {
                    throw new InvalidOperationException($"The volume content with hash {hash} arrived corrupted.");
                }
            }
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(temp, (UnixFileMode)mode);
            }
            File.Move(temp, path, overwrite: true);
            if (copy is not null)
            {
                File.Move(copyTemp!, copy, overwrite: true);
            }
            return (path, copy);
        }
        finally
        {
            File.Delete(temp);
            if (copyTemp is not null)
            {
                File.Delete(copyTemp);
            }
            _fetching.TryRemove(hash, out _);
        }
    }

    /// <summary>
    /// Makes the control plane's stored blob, on this machine, the cached file by a hard link: no bytes move. The
    /// control plane stored it only once it hashed to its name, and replaces a blob's name by a rename, never writing
    /// into a stored file, so the link keeps the checked bytes. False where there is no such blob or no link can be made
    /// (another filesystem); the caller downloads.
    /// </summary>
    private bool LinkFromServer(string hash, string path)
    {
        if (_serverBlobs is null || !OperatingSystem.IsLinux())
        {
            return false;
        }
        var source = Path.Combine(_serverBlobs, hash[..2], hash);
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            if (!Overlay.TryLinkAny(source, temp))
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

    /// <summary>A version's tree of links, and how many containers' views stand on it.</summary>
    private sealed class Tree(string path, Lazy<Task> built)
    {
        public string Path { get; } = path;

        public Lazy<Task> Built { get; } = built;

        public int Holders { get; set; }
    }
}
