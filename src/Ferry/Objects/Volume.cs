using System.Security.Cryptography;
using Ferry.Client;
using Ferry.Protocol;

namespace Ferry;

/// <summary>
/// A named, versioned file tree on the server, shared by local code and every container (Modal's <c>modal.Volume</c>):
/// model weights, datasets, outputs. A function mounts it at a path of its choosing with
/// <see cref="FunctionOptions.Volumes"/>; each container then works on its own copy, a snapshot of the volume's
/// latest version taken when the container started. <see cref="CommitAsync"/> publishes the container's changes as a
/// new version, and <see cref="ReloadAsync"/> brings in versions others committed. Two containers that write the same
/// file: the later commit wins, per file, with no locks. A container's changes are also committed when it exits
/// normally (it is stopped, scaled down or its app ends); after a crash or a kill, what it did not commit is lost.
/// File contents are stored by content hash, so committing a file that did not change costs nothing. Volumes survive
/// server restarts.
/// </summary>
/// <example>
/// <code>
/// var volume = Volume.FromName("my-data", createIfMissing: true);
/// var save = app.Function(async (string content) =>
/// {
///     await File.WriteAllTextAsync(Path.Combine(volume.Path, "output.txt"), content);
///     await volume.CommitAsync();
///     return content.Length;
/// }, new FunctionOptions { Volumes = new Dictionary&lt;string, Volume&gt; { ["/data"] = volume } });
/// </code>
/// </example>
public sealed class Volume : ObjectHandle
{
    private Volume(string name, bool createIfMissing, FerryConnection? connection) : base(name, createIfMissing, connection, "volume")
    {
    }

    private protected override string CreateRoute => Routes.Volumes;

    /// <summary>A handle on the volume named <paramref name="name"/>. Nothing is sent until the first operation.</summary>
    /// <param name="name">1 to 64 letters, digits, '-', '_' or '.'.</param>
    /// <param name="createIfMissing">Create the volume on first use, or when an app that mounts it starts, if it
    /// does not exist. Default false: operations on a missing volume throw a <see cref="NotFoundException"/> that
    /// names it, and an app whose function mounts it is refused at start (or deploy) with one.</param>
    /// <param name="connection">The server; default the environment's (in a container, the container's own).</param>
    /// <exception cref="ArgumentException">The name is not valid.</exception>
    public static Volume FromName(string name, bool createIfMissing = false, FerryConnection? connection = null) => new(name, createIfMissing, connection);

    /// <summary>Deletes the volume named <paramref name="name"/> and its files. Needs a client token.</summary>
    /// <exception cref="NotFoundException">No volume has the name.</exception>
    public static Task DeleteAsync(string name, FerryConnection? connection = null, CancellationToken cancellationToken = default) =>
        (connection?.Client ?? Hosting.FerryContext.Client).SendAsync<object, object>(HttpMethod.Delete, Routes.Volume(name), null, null, null, cancellationToken);

    /// <summary>
    /// The directory where this container sees the volume. On the runc runtime it is the path the function mounted
    /// the volume at (such as <c>/data</c>); on the process runtime, which cannot mount, it is a directory of the
    /// worker's that holds the container's copy. Code that uses <see cref="Path"/> runs the same on both.
    /// </summary>
    /// <exception cref="InvalidOperationException">The volume is not mounted in this process.</exception>
    public string Path => VolumeMounts.Find(Name)?.State.Dir ?? throw NotMounted("Path");

    /// <summary>Whether the volume is mounted in this process (a container of a function that mounts it).</summary>
    public bool IsMounted => VolumeMounts.Find(Name) is not null;

    /// <summary>
    /// Publishes this container's changes to the volume as a new version: files added or changed since the container
    /// loaded or last committed (found by size and modification time, then by content hash) and files deleted. Only
    /// contents the server lacks are uploaded, streamed from disk. Then, as Modal's <c>commit</c> does, it reloads, so
    /// the container also sees what others committed. Last write wins per file.
    /// </summary>
    /// <exception cref="InvalidOperationException">The volume is not mounted in this process.</exception>
    /// <exception cref="RequestSizeException">A file is larger than the server takes, or the volume would hold more files than its limit; the message names the limit.</exception>
    public Task CommitAsync(CancellationToken cancellationToken = default) =>
        (VolumeMounts.Find(Name) ?? throw NotMounted("CommitAsync")).CommitAsync(Client, cancellationToken);

    /// <summary>
    /// Brings this container's copy up to the volume's latest version: files others committed appear, change or go.
    /// Files changed here and not committed are kept, unless the new version changed the same file: then the new
    /// version's content wins. Commit first to keep them.
    /// </summary>
    /// <exception cref="InvalidOperationException">The volume is not mounted in this process.</exception>
    public Task ReloadAsync(CancellationToken cancellationToken = default) =>
        (VolumeMounts.Find(Name) ?? throw NotMounted("ReloadAsync")).ReloadAsync(Client, cancellationToken);

    /// <summary>The files and directories directly under <paramref name="path"/>, or every file under it when <paramref name="recursive"/>.</summary>
    /// <param name="path">A directory or file of the volume, such as <c>/</c> (the default) or <c>/models</c>.</param>
    /// <param name="recursive">List every file below instead of one level.</param>
    /// <param name="cancellationToken">Cancels the listing.</param>
    /// <exception cref="NotFoundException">The volume does not exist, or has nothing at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidRequestException">The path leaves the volume (<c>..</c>).</exception>
    public async Task<IReadOnlyList<VolumeFileInfo>> ListAsync(string path = "/", bool recursive = false, CancellationToken cancellationToken = default)
    {
        await EnsureAsync(cancellationToken).ConfigureAwait(false);
        var listing = await Client.SendAsync<object, VolumeListing>(HttpMethod.Get, Routes.VolumeFiles(Name, path, recursive), null, null,
            ProtocolJsonContext.Default.VolumeListing, cancellationToken).ConfigureAwait(false);
        return [.. listing.Entries.Select(e => new VolumeFileInfo("/" + e.Path, e.IsDirectory, e.Size, (UnixFileMode)e.Mode))];
    }

    /// <summary>Opens a file of the volume for reading, streamed from the server; dispose the stream when done.</summary>
    /// <param name="path">The file, such as <c>/models/weights.bin</c>.</param>
    /// <param name="cancellationToken">Cancels opening the file.</param>
    /// <exception cref="NotFoundException">The volume does not exist, or has no file at <paramref name="path"/>.</exception>
    public async Task<Stream> OpenReadAsync(string path, CancellationToken cancellationToken = default)
    {
        await EnsureAsync(cancellationToken).ConfigureAwait(false);
        var response = await Client.GetStreamAsync(Routes.VolumeFile(Name, path), cancellationToken).ConfigureAwait(false);
        try
        {
            return new ResponseStream(response, await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false));
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>A whole file of the volume, read into memory; for large files use <see cref="OpenReadAsync"/>.</summary>
    /// <exception cref="NotFoundException">The volume does not exist, or has no file at <paramref name="path"/>.</exception>
    public async Task<byte[]> ReadFileAsync(string path, CancellationToken cancellationToken = default)
    {
        await using var stream = await OpenReadAsync(path, cancellationToken).ConfigureAwait(false);
        using var memory = new MemoryStream();
        await stream.CopyToAsync(memory, cancellationToken).ConfigureAwait(false);
        return memory.ToArray();
    }

    /// <summary>Writes <paramref name="content"/> to a file of the volume as a new version, replacing what was at the path.</summary>
    /// <param name="path">The file, such as <c>/config.json</c>; its directories need not exist.</param>
    /// <param name="content">The file's content.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <exception cref="InvalidRequestException">The path leaves the volume.</exception>
    public async Task WriteFileAsync(string path, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        await EnsureAsync(cancellationToken).ConfigureAwait(false);
        var target = Canonical(path);
        var hash = await Client.PutBlobAsync(content, cancellationToken).ConfigureAwait(false);
        await CommitFilesAsync([new VolumeFile(target, hash, content.Length, 0b110_100_100)], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes the rest of <paramref name="content"/> to a file of the volume as a new version. The stream is read once
    /// into a temporary file (to learn its hash) and uploaded from there, so it is never held in memory.
    /// </summary>
    /// <param name="path">The file, such as <c>/data/train.csv</c>.</param>
    /// <param name="content">The content; read to its end, not disposed.</param>
    /// <param name="progress">Told the bytes uploaded so far.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <exception cref="RequestSizeException">The content is larger than the server takes; the message names the limit.</exception>
    public async Task WriteFileAsync(string path, Stream content, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        var target = Canonical(path);
        var spool = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "ferry-" + Guid.NewGuid().ToString("N"));
        try
        {
            string hash;
            long size;
            await using (var file = new FileStream(spool, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous))
            {
                using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[1 << 20];
                int read;
                while ((read = await content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    sha.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                }
                hash = Convert.ToHexStringLower(sha.GetHashAndReset());
                size = file.Length;
            }
            await UploadAndCommitAsync([(new VolumeFile(target, hash, size, 0b110_100_100), spool)], progress, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(spool);
        }
    }

    /// <summary>Uploads a local file to <paramref name="remotePath"/> of the volume as a new version, streamed from disk.</summary>
    /// <param name="localPath">The file to upload.</param>
    /// <param name="remotePath">Where it goes in the volume, such as <c>/models/weights.bin</c>.</param>
    /// <param name="progress">Told the bytes uploaded so far.</param>
    /// <param name="cancellationToken">Cancels the upload.</param>
    /// <exception cref="FileNotFoundException">The local file does not exist.</exception>
    public Task PutFileAsync(string localPath, string remotePath, IProgress<long>? progress = null, CancellationToken cancellationToken = default) =>
        PutFilesAsync([(localPath, Canonical(remotePath))], progress, cancellationToken);

    /// <summary>
    /// Uploads a local directory's files under <paramref name="remotePath"/> of the volume, all in one new version.
    /// Only contents the server lacks are sent.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The local directory does not exist.</exception>
    public Task PutDirectoryAsync(string localPath, string remotePath = "/", IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        if (!Directory.Exists(localPath))
        {
            throw new DirectoryNotFoundException($"The directory '{localPath}' does not exist.");
        }
        var root = VolumePaths.Normalize(remotePath, rootedOk: true, out var problem) ?? throw new InvalidRequestException($"'{remotePath}' is not a volume path: {problem}");
        var files = Directory.EnumerateFiles(localPath, "*", SearchOption.AllDirectories)
            .Select(f => (f, string.Join('/', new[] { root, System.IO.Path.GetRelativePath(localPath, f).Replace('\\', '/') }.Where(p => p.Length > 0))))
            .ToList();
        return PutFilesAsync(files, progress, cancellationToken);
    }

    /// <summary>Removes a file of the volume, or a directory and everything under it when <paramref name="recursive"/>, as a new version.</summary>
    /// <exception cref="NotFoundException">The volume does not exist, or has nothing at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidRequestException">The path is a directory and <paramref name="recursive"/> is false.</exception>
    public async Task RemoveAsync(string path, bool recursive = false, CancellationToken cancellationToken = default)
    {
        await EnsureAsync(cancellationToken).ConfigureAwait(false);
        await Client.SendAsync<object, VolumeCommitResponse>(HttpMethod.Delete, Routes.VolumeFiles(Name, path, recursive), null, null,
            ProtocolJsonContext.Default.VolumeCommitResponse, cancellationToken).ConfigureAwait(false);
    }

    private async Task PutFilesAsync(IReadOnlyList<(string Local, string Remote)> files, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var hashed = new List<(VolumeFile, string)>(files.Count);
        foreach (var (local, remote) in files)
        {
            if (!File.Exists(local))
            {
                throw new FileNotFoundException($"The file '{local}' does not exist.", local);
            }
            var (hash, size) = await VolumeSync.HashFileAsync(local, cancellationToken).ConfigureAwait(false);
            hashed.Add((new VolumeFile(remote, hash, size, VolumeSync.ModeOf(local)), local));
        }
        await UploadAndCommitAsync(hashed, progress, cancellationToken).ConfigureAwait(false);
    }

    private async Task UploadAndCommitAsync(IReadOnlyList<(VolumeFile File, string Local)> files, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        await EnsureAsync(cancellationToken).ConfigureAwait(false);
        await VolumeSync.UploadMissingAsync(Client, files, progress, cancellationToken).ConfigureAwait(false);
        await CommitFilesAsync([.. files.Select(f => f.File)], cancellationToken).ConfigureAwait(false);
    }

    private Task CommitFilesAsync(IReadOnlyList<VolumeFile> files, CancellationToken cancellationToken) =>
        Client.SendAsync(HttpMethod.Post, Routes.VolumeCommit(Name), new VolumeCommitRequest(files, []), ProtocolJsonContext.Default.VolumeCommitRequest,
            ProtocolJsonContext.Default.VolumeCommitResponse, cancellationToken);

    private static string Canonical(string path)
    {
        var canonical = VolumePaths.Normalize(path, rootedOk: true, out var problem) ?? throw new InvalidRequestException($"'{path}' is not a volume path: {problem}");
        return canonical.Length > 0 ? canonical : throw new InvalidRequestException($"'{path}' is the volume's root, not a file.");
    }

    private InvalidOperationException NotMounted(string what) => new(
        $"Volume '{Name}' is not mounted in this process, so it has no {what}: mount it with FunctionOptions.Volumes (Volumes = new Dictionary<string, Volume> {{ [\"/data\"] = volume }}) and use it in that function's containers, or use the file API (ReadFileAsync, WriteFileAsync, ListAsync, RemoveAsync) from anywhere.");

    /// <summary>A response's content stream that disposes the response with it.</summary>
    private sealed class ResponseStream(HttpResponseMessage response, Stream inner) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => response.Content.Headers.ContentLength ?? throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                response.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}

/// <summary>An entry of a volume listing (<see cref="Volume.ListAsync"/>).</summary>
/// <param name="Path">The path from the volume's root, starting with '/': <c>/models/weights.bin</c>.</param>
/// <param name="IsDirectory">Whether the entry is a directory (one or more files are under it).</param>
/// <param name="Size">A file's size in bytes, or the total of the files under a directory.</param>
/// <param name="Mode">A file's permission bits; none for a directory.</param>
public sealed record VolumeFileInfo(string Path, bool IsDirectory, long Size, UnixFileMode Mode);
