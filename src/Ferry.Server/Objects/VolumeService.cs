using Ferry.Protocol;
using Ferry.Server.Api;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;

namespace Ferry.Server.Objects;

/// <summary>
/// Named volumes: versioned manifests of paths to blob hashes. A commit names only blobs the blob store already has,
/// so file contents travel once, as blobs; a path that would leave the volume is a 400, and the file limit a 413.
/// </summary>
internal sealed class VolumeService(IVolumeStore store, IBlobStore blobs, TimeProvider clock, ServerOptions options)
{
    private int MaxFiles => options.Objects.MaxVolumeFiles;

    public async Task<VolumeSummary> CreateAsync(CreateObjectRequest request, CancellationToken cancellationToken)
    {
        CheckName(request.Name);
        if (!await store.CreateVolumeAsync(request.Name, clock.GetUtcNow(), cancellationToken).ConfigureAwait(false) && !request.ExistOk)
        {
            throw new ConflictException($"Volume '{request.Name}' already exists.");
        }
        return await GetAsync(request.Name, cancellationToken).ConfigureAwait(false);
    }

    /// <exception cref="NotFoundException">No volume has the name.</exception>
    public async Task<VolumeSummary> GetAsync(string name, CancellationToken cancellationToken)
    {
        CheckName(name);
        var found = await store.GetVolumeAsync(name, cancellationToken).ConfigureAwait(false) ?? throw Missing(name);
        return Summary(found);
    }

    public async Task<IReadOnlyList<VolumeSummary>> ListAsync(CancellationToken cancellationToken) =>
        [.. (await store.ListVolumesAsync(cancellationToken).ConfigureAwait(false)).Select(Summary)];

    public async Task DeleteAsync(string name, CancellationToken cancellationToken)
    {
        CheckName(name);
        if (!await store.DeleteVolumeAsync(name, cancellationToken).ConfigureAwait(false))
        {
            throw new NotFoundException($"Volume '{name}' does not exist.");
        }
    }

    public async Task<VolumeManifest> ManifestAsync(string name, CancellationToken cancellationToken)
    {
        CheckName(name);
        var (version, files) = await store.GetVolumeFilesAsync(name, "", cancellationToken).ConfigureAwait(false) ?? throw Missing(name);
        return new VolumeManifest(name, version, [.. files.Select(f => new VolumeFile(f.Path, f.Hash, f.Size, f.Mode))]);
    }

    public async Task<VolumeCommitResponse> CommitAsync(string name, VolumeCommitRequest request, CancellationToken cancellationToken)
    {
        CheckName(name);
        IReadOnlyList<VolumeFile> puts = request.Put ?? [];
        IReadOnlyList<string> removes = request.Removed ?? [];
        var put = new Dictionary<string, VolumeFileRecord>(StringComparer.Ordinal);
        for (var i = 0; i < puts.Count; i++)
        {
            var file = puts[i] ?? throw new BadRequestException($"The field 'put[{i}]' must be a file, not null.");
            var path = FilePath(file.Path, $"put[{i}].path", rootedOk: false);
            if (!FileBlobStore.IsHash(file.Hash ?? ""))
            {
                throw new BadRequestException($"The field 'put[{i}].hash' is not a lower-case SHA-256 hash.");
            }
            if (blobs.Length(file.Hash!) is not { } length)
            {
                throw new BadRequestException($"The content of '{path}' (blob {file.Hash}) has not been uploaded; upload the blob before committing it.");
            }
            if (file.Mode is < 0 or > 0xFFF)
            {
                throw new BadRequestException($"The field 'put[{i}].mode' must hold Unix permission bits (0 to 0o7777), not {file.Mode}.");
            }
            put[path] = new VolumeFileRecord(path, file.Hash!, length, file.Mode);
        }
        var removed = new List<string>(removes.Count);
        for (var i = 0; i < removes.Count; i++)
        {
            removed.Add(FilePath(removes[i], $"removed[{i}]", rootedOk: false));
        }
        return await ApplyAsync(name, [.. put.Values], removed, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The files and directories directly under <paramref name="path"/> (or all files under it, when <paramref name="recursive"/>).</summary>
    public async Task<VolumeListing> ListFilesAsync(string name, string? path, bool recursive, CancellationToken cancellationToken)
    {
        CheckName(name);
        var under = FilePath(path, "path", rootedOk: true, rootOk: true);
        var (version, files) = await store.GetVolumeFilesAsync(name, under, cancellationToken).ConfigureAwait(false) ?? throw Missing(name);
        if (files.Count == 1 && files[0].Path == under)
        {
            return new VolumeListing(name, version, [new VolumeEntry(files[0].Path, false, files[0].Size, files[0].Mode)]);
        }
        if (files.Count == 0 && under.Length > 0)
        {
            throw new NotFoundException($"Volume '{name}' has no file or directory '{under}'.");
        }
        if (recursive)
        {
            return new VolumeListing(name, version, [.. files.Select(f => new VolumeEntry(f.Path, false, f.Size, f.Mode))]);
        }
        var prefix = under.Length == 0 ? 0 : under.Length + 1;
        var entries = new List<VolumeEntry>();
        foreach (var group in files.GroupBy(f => f.Path.IndexOf('/', prefix) is var slash and >= 0 ? f.Path[..slash] : f.Path))
        {
            var first = group.First();
            entries.Add(first.Path == group.Key
                ? new VolumeEntry(first.Path, false, first.Size, first.Mode)
                : new VolumeEntry(group.Key, true, group.Sum(f => f.Size), 0));
        }
        return new VolumeListing(name, version, entries);
    }

    /// <summary>The blob of one file, as a file on this machine's disk or else opened, or a 404 naming the path.</summary>
    public async Task<(string? LocalPath, Stream? Content, long Length)> OpenFileAsync(string name, string? path, CancellationToken cancellationToken)
    {
        CheckName(name);
        var file = FilePath(path, "path", rootedOk: true);
        var (_, files) = await store.GetVolumeFilesAsync(name, file, cancellationToken).ConfigureAwait(false) ?? throw Missing(name);
        var found = files.FirstOrDefault(f => f.Path == file)
            ?? throw (files.Count > 0
                ? new BadRequestException($"'{file}' is a directory of volume '{name}', not a file.")
                : new NotFoundException($"Volume '{name}' has no file '{file}'."));
        if (blobs.LocalPath(found.Hash) is { } local)
        {
            return (local, null, found.Size);
        }
        var stream = blobs.OpenRead(found.Hash) ?? throw new NotFoundException($"The content of '{file}' in volume '{name}' (blob {found.Hash}) is missing from the blob store.");
        return (null, stream, found.Size);
    }

    /// <summary>Removes a file, or a directory's files when <paramref name="recursive"/>; a 404 when there is nothing at the path.</summary>
    public async Task<VolumeCommitResponse> RemoveAsync(string name, string? path, bool recursive, CancellationToken cancellationToken)
    {
        CheckName(name);
        var target = FilePath(path, "path", rootedOk: true, rootOk: recursive);
        var (_, files) = await store.GetVolumeFilesAsync(name, target, cancellationToken).ConfigureAwait(false) ?? throw Missing(name);
        if (files.Count == 0)
        {
            throw new NotFoundException($"Volume '{name}' has no file or directory '{target}'.");
        }
        if (!recursive && !(files.Count == 1 && files[0].Path == target))
        {
            throw new BadRequestException($"'{target}' is a directory of volume '{name}'; remove it recursively (recursive=true, ferry volume rm -r).");
        }
        return await ApplyAsync(name, [], [.. files.Select(f => f.Path)], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Makes ready the volumes an app's functions mount, before the app's definition is taken: those asked for with
    /// createIfMissing are created; any other that does not exist refuses the definition with a 404 that names it.
    /// </summary>
    public async Task PrepareMountsAsync(AppDefinition definition, CancellationToken cancellationToken)
    {
        foreach (var function in definition.Functions)
        {
            foreach (var mount in function.Settings.Volumes ?? [])
            {
                if (mount.CreateIfMissing)
                {
                    await store.CreateVolumeAsync(mount.Volume, clock.GetUtcNow(), cancellationToken).ConfigureAwait(false);
                }
                else if (await store.GetVolumeAsync(mount.Volume, cancellationToken).ConfigureAwait(false) is null)
                {
                    throw new NotFoundException(
                        $"Function '{function.Name}' mounts volume '{mount.Volume}' at {mount.Path}, and it does not exist; create it with Volume.FromName(\"{mount.Volume}\", createIfMissing: true) or `ferry volume create {mount.Volume}`.");
                }
            }
        }
    }

    private async Task<VolumeCommitResponse> ApplyAsync(string name, IReadOnlyList<VolumeFileRecord> put, IReadOnlyList<string> removed, CancellationToken cancellationToken)
    {
        var (outcome, version) = await store.CommitVolumeAsync(name, put, removed, MaxFiles, clock.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        return outcome switch
        {
            VolumeCommitOutcome.Committed => new VolumeCommitResponse(version),
            VolumeCommitOutcome.NoVolume => throw Missing(name),
            _ => throw new PayloadTooLargeException($"Volume '{name}' would hold more than {MaxFiles} files, the server's limit (Objects.MaxVolumeFiles); nothing was committed."),
        };
    }

    private static string FilePath(string? path, string field, bool rootedOk, bool rootOk = false)
    {
        var canonical = VolumePaths.Normalize(path, rootedOk, out var problem);
        if (canonical is null)
        {
            throw new BadRequestException($"The field '{field}' is not a volume path: {problem}");
        }
        if (canonical.Length == 0 && !rootOk)
        {
            throw new BadRequestException($"The field '{field}' names the volume's root, not a file.");
        }
        return canonical;
    }

    private static VolumeSummary Summary(VolumeRecord v) => new(v.Name, v.Version, v.Files, v.Bytes, v.CreatedAt, v.UpdatedAt);

    private static NotFoundException Missing(string name) =>
        new($"Volume '{name}' does not exist; create it with Volume.FromName(\"{name}\", createIfMissing: true) or `ferry volume create {name}`.");

    private static void CheckName(string name)
    {
        if (!ObjectLimits.IsName(name))
        {
            throw new BadRequestException($"'{name}' is not a volume name: use 1 to {ObjectLimits.MaxNameLength} letters, digits, '-', '_' or '.'.");
        }
    }
}
