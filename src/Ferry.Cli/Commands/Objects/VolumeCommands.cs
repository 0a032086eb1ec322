using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Ferry.Client;
using Ferry.Protocol;
using Spectre.Console;

namespace Ferry.Cli.Commands.Objects;

/// <summary><c>ferry volume create NAME</c>.</summary>
internal sealed class VolumeCreateCommand : ObjectCommand
{
    private readonly Argument<string> _name = new("name") { Description = "The volume's name: 1 to 64 letters, digits, '-', '_' or '.'." };

    public VolumeCreateCommand(Option<string?> server) : base("create", "Create an empty volume.", server) => Add(_name);

    protected override async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var name = result.GetValue(_name)!;
        using var client = await ConnectAsync(result, cancellationToken).ConfigureAwait(false);
        await client.SendAsync(HttpMethod.Post, Routes.Volumes, new CreateObjectRequest(name, ExistOk: false), Json.CreateObjectRequest, Json.VolumeSummary, cancellationToken)
            .ConfigureAwait(false);
        Output.Info($"Created volume '{name}'.");
        return 0;
    }
}

/// <summary><c>ferry volume list [--json]</c>.</summary>
internal sealed class VolumeListCommand : ObjectCommand
{
    private readonly Option<bool> _json = JsonOption();

    public VolumeListCommand(Option<string?> server) : base("list", "List volumes.", server) => Add(_json);

    protected override async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        using var client = await ConnectAsync(result, cancellationToken).ConfigureAwait(false);
        var list = await client.SendAsync<object, VolumeList>(HttpMethod.Get, Routes.Volumes, null, null, Json.VolumeList, cancellationToken).ConfigureAwait(false);
        Output.Listing(list, Json.VolumeList, result.GetValue(_json), ["Name", "Files", "Size", "Version", "Created", "Updated"],
            list.Volumes.Select(v => new[] { v.Name, v.Files.ToString(CultureInfo.InvariantCulture), VolumeTransfer.Size(v.Bytes), v.Version.ToString(CultureInfo.InvariantCulture), Time(v.CreatedAt), Time(v.UpdatedAt) }));
        return 0;
    }
}

/// <summary><c>ferry volume ls NAME [PATH] [-r] [--json]</c>.</summary>
internal sealed class VolumeLsCommand : ObjectCommand
{
    private readonly Argument<string> _name = new("name") { Description = "The volume." };
    private readonly Argument<string> _path = new("path") { Description = "A directory or file of the volume.", DefaultValueFactory = _ => "/" };
    private readonly Option<bool> _recursive = new("-r", "--recursive") { Description = "List every file below the path, not one level." };
    private readonly Option<bool> _json = JsonOption();

    public VolumeLsCommand(Option<string?> server) : base("ls", "List the files and directories of a volume.", server)
    {
        Add(_name);
        Add(_path);
        Add(_recursive);
        Add(_json);
    }

    protected override async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var name = result.GetValue(_name)!;
        using var client = await ConnectAsync(result, cancellationToken).ConfigureAwait(false);
        var listing = await client.SendAsync<object, VolumeListing>(HttpMethod.Get, Routes.VolumeFiles(name, result.GetValue(_path)!, result.GetValue(_recursive)), null, null,
            Json.VolumeListing, cancellationToken).ConfigureAwait(false);
        Output.Listing(listing, Json.VolumeListing, result.GetValue(_json), ["Path", "Type", "Size"],
            listing.Entries.Select(e => new[] { "/" + e.Path + (e.IsDirectory ? "/" : ""), e.IsDirectory ? "dir" : "file", VolumeTransfer.Size(e.Size) }));
        return 0;
    }
}

/// <summary><c>ferry volume put NAME LOCAL [REMOTE] [--force]</c>: a file or a directory, in one new version.</summary>
internal sealed class VolumePutCommand : ObjectCommand
{
    private readonly Argument<string> _name = new("name") { Description = "The volume." };
    private readonly Argument<string> _local = new("local") { Description = "A local file or directory." };
    private readonly Argument<string> _remote = new("remote") { Description = "Where it goes in the volume; a path ending in '/' is a directory. Default: the root.", DefaultValueFactory = _ => "/" };
    private readonly Option<bool> _force = new("-f", "--force") { Description = "Overwrite files that exist in the volume." };

    public VolumePutCommand(Option<string?> server) : base("put", "Upload a file or a directory to a volume.", server)
    {
        Add(_name);
        Add(_local);
        Add(_remote);
        Add(_force);
    }

    protected override async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var name = result.GetValue(_name)!;
        var local = Path.GetFullPath(result.GetValue(_local)!);
        var remote = result.GetValue(_remote)!;
        var root = VolumePaths.Normalize(remote, rootedOk: true, out var problem) ?? throw new CliException($"'{remote}' is not a volume path: {problem}");
        List<(string Local, string Remote)> files;
        if (Directory.Exists(local))
        {
            files = [.. Directory.EnumerateFiles(local, "*", SearchOption.AllDirectories)
                .Select(f => (f, Join(root, Path.GetRelativePath(local, f).Replace('\\', '/'))))];
        }
        else if (File.Exists(local))
        {
            files = [(local, root.Length == 0 || remote.EndsWith('/') ? Join(root, Path.GetFileName(local)) : root)];
        }
        else
        {
            throw new CliException($"'{result.GetValue(_local)}' is neither a file nor a directory.");
        }
        using var client = await ConnectAsync(result, cancellationToken).ConfigureAwait(false);
        if (!result.GetValue(_force))
        {
            var existing = await ExistingAsync(client, name, files, cancellationToken).ConfigureAwait(false);
            if (existing is not null)
            {
                throw new CliException($"'/{existing}' already exists in volume '{name}'; pass --force to overwrite it.");
            }
        }
        var clock = Stopwatch.StartNew();
        var hashed = await Output.StatusAsync($"Hashing {files.Count} files", async () =>
        {
            var list = new List<(VolumeFile File, string Local)>(files.Count);
            foreach (var (path, target) in files)
            {
                var (hash, size) = await VolumeSync.HashFileAsync(path, cancellationToken).ConfigureAwait(false);
                list.Add((new VolumeFile(target, hash, size, VolumeSync.ModeOf(path)), path));
            }
            return list;
        }).ConfigureAwait(false);
        var total = hashed.Sum(h => h.File.Size);
        await VolumeTransfer.RunAsync($"Uploading to {name}", total,
            progress => VolumeSync.UploadMissingAsync(client, hashed, progress, cancellationToken)).ConfigureAwait(false);
        var committed = await client.SendAsync(HttpMethod.Post, Routes.VolumeCommit(name), new VolumeCommitRequest([.. hashed.Select(h => h.File)], []),
            Json.VolumeCommitRequest, Json.VolumeCommitResponse, cancellationToken).ConfigureAwait(false);
        Output.Step($"Put {files.Count} file{(files.Count == 1 ? "" : "s")} ({VolumeTransfer.Size(total)}) in volume '{name}', version {committed.Version}", clock.Elapsed);
        return 0;
    }

    private static string Join(string root, string relative) => root.Length == 0 ? relative : root + "/" + relative;

    /// <summary>The first of the target paths the volume already has a file at, or null.</summary>
    private static async Task<string?> ExistingAsync(FerryClient client, string name, List<(string Local, string Remote)> files, CancellationToken cancellationToken)
    {
        var manifest = await client.SendAsync<object, VolumeManifest>(HttpMethod.Get, Routes.VolumeManifest(name), null, null, Json.VolumeManifest, cancellationToken)
            .ConfigureAwait(false);
        var present = manifest.Files.Select(f => f.Path).ToHashSet(StringComparer.Ordinal);
        return files.Select(f => f.Remote).FirstOrDefault(present.Contains);
    }
}

/// <summary><c>ferry volume get NAME REMOTE [LOCAL] [--force]</c>: a file (to stdout with <c>-</c>) or a directory.</summary>
internal sealed class VolumeGetCommand : ObjectCommand
{
    private readonly Argument<string> _name = new("name") { Description = "The volume." };
    private readonly Argument<string> _remote = new("remote") { Description = "A file or directory of the volume." };
    private readonly Argument<string> _local = new("local") { Description = "Where to write it: a path, or '-' for stdout (a file only). Default: the current directory.", DefaultValueFactory = _ => "." };
    private readonly Option<bool> _force = new("-f", "--force") { Description = "Overwrite local files that exist." };

    public VolumeGetCommand(Option<string?> server) : base("get", "Download a file or a directory from a volume.", server)
    {
        Add(_name);
        Add(_remote);
        Add(_local);
        Add(_force);
    }

    protected override async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var name = result.GetValue(_name)!;
        var remote = result.GetValue(_remote)!;
        var local = result.GetValue(_local)!;
        var force = result.GetValue(_force);
        using var client = await ConnectAsync(result, cancellationToken).ConfigureAwait(false);
        var listing = await client.SendAsync<object, VolumeListing>(HttpMethod.Get, Routes.VolumeFiles(name, remote, recursive: true), null, null,
            Json.VolumeListing, cancellationToken).ConfigureAwait(false);
        var root = VolumePaths.Normalize(remote, rootedOk: true, out _) ?? "";
        var single = listing.Entries is [{ IsDirectory: false } only] && only.Path == root;
        if (local == "-")
        {
            if (!single)
            {
                throw new CliException($"'{remote}' is a directory of volume '{name}'; only a file can go to stdout.");
            }
            await using var stdout = Console.OpenStandardOutput();
            await CopyAsync(client, name, listing.Entries[0], stdout, null, cancellationToken).ConfigureAwait(false);
            return 0;
        }
        var targets = new List<(VolumeEntry Entry, string Path)>();
        if (single)
        {
            var file = Directory.Exists(local) ? Path.Combine(local, Path.GetFileName(root)) : local;
            targets.Add((listing.Entries[0], Path.GetFullPath(file)));
        }
        else
        {
            var baseDir = Path.GetFullPath(local);
            foreach (var entry in listing.Entries)
            {
                var relative = root.Length == 0 ? entry.Path : entry.Path[(root.Length + 1)..];
                targets.Add((entry, Path.GetFullPath(Path.Combine(baseDir, relative))));
            }
        }
        if (!force && targets.FirstOrDefault(t => File.Exists(t.Path)) is { Path: { } exists })
        {
            throw new CliException($"'{exists}' already exists; pass --force to overwrite it.");
        }
        var clock = Stopwatch.StartNew();
        var total = targets.Sum(t => t.Entry.Size);
        await VolumeTransfer.RunAsync($"Downloading from {name}", total, async progress =>
        {
            long done = 0;
            foreach (var (entry, path) in targets)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                var start = done;
                await using (var output = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous))
                {
                    await CopyAsync(client, name, entry, output, progress is null ? null : new Progress(v => progress.Report(start + v)), cancellationToken).ConfigureAwait(false);
                }
                done += entry.Size;
            }
        }).ConfigureAwait(false);
        Output.Step($"Got {targets.Count} file{(targets.Count == 1 ? "" : "s")} ({VolumeTransfer.Size(total)}) from volume '{name}'", clock.Elapsed);
        return 0;
    }

    private static async Task CopyAsync(FerryClient client, string name, VolumeEntry entry, Stream output, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        using var response = await client.GetStreamAsync(Routes.VolumeFile(name, entry.Path), cancellationToken).ConfigureAwait(false);
        await using var source = new ProgressStream(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), progress);
        await source.CopyToAsync(output, 1 << 20, cancellationToken).ConfigureAwait(false);
    }

    private sealed class Progress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}

/// <summary><c>ferry volume rm NAME PATH [-r]</c>.</summary>
internal sealed class VolumeRmCommand : ObjectCommand
{
    private readonly Argument<string> _name = new("name") { Description = "The volume." };
    private readonly Argument<string> _path = new("path") { Description = "The file or directory to remove." };
    private readonly Option<bool> _recursive = new("-r", "--recursive") { Description = "Remove a directory and everything under it." };

    public VolumeRmCommand(Option<string?> server) : base("rm", "Remove a file or directory from a volume.", server)
    {
        Add(_name);
        Add(_path);
        Add(_recursive);
    }

    protected override async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var name = result.GetValue(_name)!;
        var path = result.GetValue(_path)!;
        using var client = await ConnectAsync(result, cancellationToken).ConfigureAwait(false);
        var committed = await client.SendAsync<object, VolumeCommitResponse>(HttpMethod.Delete, Routes.VolumeFiles(name, path, result.GetValue(_recursive)), null, null,
            Json.VolumeCommitResponse, cancellationToken).ConfigureAwait(false);
        Output.Info($"Removed '{path}' from volume '{name}' (version {committed.Version}).");
        return 0;
    }
}

/// <summary><c>ferry volume delete NAME</c>.</summary>
internal sealed class VolumeDeleteCommand : ObjectCommand
{
    private readonly Argument<string> _name = new("name") { Description = "The volume." };

    public VolumeDeleteCommand(Option<string?> server) : base("delete", "Delete a volume and its files.", server) => Add(_name);

    protected override async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var name = result.GetValue(_name)!;
        using var client = await ConnectAsync(result, cancellationToken).ConfigureAwait(false);
        await client.SendAsync<object, object>(HttpMethod.Delete, Routes.Volume(name), null, null, null, cancellationToken).ConfigureAwait(false);
        Output.Info($"Deleted volume '{name}'.");
        return 0;
    }
}

/// <summary>Transfers with a progress bar on a terminal, and none when stderr is piped.</summary>
internal static class VolumeTransfer
{
    public static async Task RunAsync(string description, long total, Func<IProgress<long>?, Task> transfer)
    {
        if (Console.IsErrorRedirected || total == 0)
        {
            await transfer(null).ConfigureAwait(false);
            return;
        }
        await Output.Err.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(description), maxValue: total);
                await transfer(new Bar(task)).ConfigureAwait(false);
                task.Value = total;
            }).ConfigureAwait(false);
    }

    /// <summary>A size as people read it: bytes, KiB, MiB or GiB.</summary>
    public static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => (bytes / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        < 1024L * 1024 * 1024 => (bytes / (1024.0 * 1024)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        _ => (bytes / (1024.0 * 1024 * 1024)).ToString("0.00", CultureInfo.InvariantCulture) + " GiB",
    };

    private sealed class Bar(ProgressTask task) : IProgress<long>
    {
        public void Report(long value) => task.Value = value;
    }
}
