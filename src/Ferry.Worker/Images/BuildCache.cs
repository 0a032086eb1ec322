using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Ferry.Protocol;

namespace Ferry.Worker.Images;

/// <summary>
/// User builds on this worker's disk, fetched from the control plane's blob store once and shared by every container
/// of the build. A build directory is complete only once its marker file exists, so a crash mid-download is redone.
/// Every path the manifest names is resolved under the cache's root and refused if it would leave it.
/// </summary>
internal sealed class BuildCache(HttpClient http, string root) : IBlobSource
{
    private const string Marker = ".ferry-complete";
    private readonly string _root = Path.GetFullPath(root);
    private readonly ConcurrentDictionary<string, Lazy<Task<(string Dir, string EntryAssembly)>>> _builds = new(StringComparer.Ordinal);

    public Task<(string Dir, string EntryAssembly)> GetAsync(string buildId, CancellationToken cancellationToken)
    {
        var lazy = _builds.GetOrAdd(buildId, id => new Lazy<Task<(string, string)>>(() => FetchAsync(id, CancellationToken.None)));
        var task = lazy.Value;
        if (task.IsFaulted)
        {
            _builds.TryRemove(new KeyValuePair<string, Lazy<Task<(string, string)>>>(buildId, lazy));
        }
        return task.WaitAsync(cancellationToken);
    }

    private async Task<(string, string)> FetchAsync(string buildId, CancellationToken cancellationToken)
    {
        var dir = PlainName(buildId) ? ConfinedPath.Resolve(_root, buildId) : null;
        if (dir is null || dir == _root)
        {
            throw new InvalidOperationException($"The build id '{buildId}' is not a plain name.");
        }
        var manifest = await http.GetFromJsonAsync("/" + Routes.Build(buildId), ProtocolJsonContext.Default.BuildManifest, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"The control plane has no build '{buildId}'.");
        if (ConfinedPath.Resolve(dir, manifest.EntryAssembly) is null)
        {
            throw new InvalidOperationException($"The entry assembly '{manifest.EntryAssembly}' of build '{buildId}' leaves the build directory.");
        }
        if (File.Exists(Path.Combine(dir, Marker)))
        {
            return (dir, manifest.EntryAssembly);
        }
        var staging = dir + ".partial-" + Guid.NewGuid().ToString("N")[..8];
        Directory.CreateDirectory(staging);
        try
        {
            await Parallel.ForEachAsync(manifest.Files, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancellationToken }, async (file, ct) =>
            {
                var target = ConfinedPath.Resolve(staging, file.Path);
                if (target is null || target == staging)
                {
                    throw new InvalidOperationException($"The build file path '{file.Path}' leaves the build directory.");
                }
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                await DownloadAsync(file.Hash, target, ct).ConfigureAwait(false);
            }).ConfigureAwait(false);
            await File.WriteAllTextAsync(Path.Combine(staging, Marker), buildId, cancellationToken).ConfigureAwait(false);
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
            Directory.Move(staging, dir);
        }
        catch
        {
            Directory.Delete(staging, recursive: true);
            throw;
        }
        return (dir, manifest.EntryAssembly);
    }

    private static bool PlainName(string name) =>
        name.Length > 0 && name is not ("." or "..") && name.IndexOfAny(['/', '\\', '\0']) < 0;

    /// <summary>Downloads one blob to <paramref name="target"/> and checks that its content has the expected hash.</summary>
    public async Task DownloadAsync(string hash, string target, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync("/" + Routes.Blob(hash), HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        await using (var output = File.Create(target))
        {
            await response.Content.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
        }
        await using var check = File.OpenRead(target);
        var actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(check, cancellationToken).ConfigureAwait(false));
        if (actual != hash)
        {
            throw new InvalidOperationException($"The file with hash {hash} arrived corrupted.");
        }
    }
}
