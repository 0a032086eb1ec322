using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ferry.Worker.Runtimes.Runc;

namespace Ferry.Worker.Images;

/// <summary>
/// The layers on the worker's disk, in <c>layers/{id}</c> with their files under <c>fs/</c> and their metadata in
/// <c>layer.json</c>, and the directories of mounted files, in <c>mounts/{key}</c>.
/// </summary>
/// <remarks>
/// A layer is built in a staging directory and renamed into place only when its step succeeded, so a failed or
/// interrupted build never leaves a layer that looks complete. Concurrent requests for the same layer share one build
/// (<see cref="ShareAsync"/>). What a crashed worker left half done is removed when the store opens.
/// </remarks>
internal sealed class LayerStore
{
    private const string Metadata = "layer.json";
    private static readonly TimeSpan StaleAfter = TimeSpan.FromHours(1);
    private readonly string _layers;
    private readonly string _mounts;
    private readonly ConcurrentDictionary<string, Lazy<Task<bool>>> _building = new(StringComparer.Ordinal);
    private int _buildsRun;

    /// <summary>The store in <paramref name="imagesDir"/>, created if missing, with stale staging directories removed.</summary>
    public LayerStore(string imagesDir)
    {
        _layers = Path.Combine(imagesDir, "layers");
        _mounts = Path.Combine(imagesDir, "mounts");
        Directory.CreateDirectory(_layers);
        Directory.CreateDirectory(_mounts);
        RemoveStale(_layers);
        RemoveStale(_mounts);
    }

    /// <summary>How many layer builds have run, for tests and the registry.</summary>
    public int BuildsRun => _buildsRun;

    /// <summary>The directory of a layer's files, or null when the layer has none (an env step's) or is not on disk.</summary>
    public string? FilesOf(string id) => Directory.Exists(Path.Combine(LayerDir(id), "fs")) ? Path.Combine(LayerDir(id), "fs") : null;

    /// <summary>
    /// Whether layer <paramref name="id"/> is on disk and usable: any build of it, or for a forced step
    /// (<paramref name="forcedFor"/> set), a build forced for that app.
    /// </summary>
    public bool Has(string id, string? forcedFor)
    {
        var target = LayerDir(id);
        return Directory.Exists(target) && (forcedFor is null || ForcedFor(target) == forcedFor);
    }

    /// <summary>
    /// Builds layer <paramref name="id"/>: <paramref name="fill"/> writes it into a staging directory (the layer's files
    /// into its <c>fs/</c>, which it may remove when there are none), then its metadata is written and it is published.
    /// On failure the staging directory is removed and nothing is published.
    /// </summary>
    /// <param name="id">The layer's id.</param>
    /// <param name="step">The step as the metadata records it.</param>
    /// <param name="forcedFor">The app a forced build is for, or null; a forced build replaces the layer on disk.</param>
    /// <param name="fill">Writes the layer into the staging directory it is handed.</param>
    /// <param name="cancellationToken">Handed to <paramref name="fill"/>.</param>
    /// <returns>How long the build took.</returns>
    public async Task<TimeSpan> BuildAsync(string id, string step, string? forcedFor, Func<string, CancellationToken, Task> fill, CancellationToken cancellationToken)
    {
        var target = LayerDir(id);
        var staging = $"{target}.partial-{Guid.NewGuid():N}"[..(target.Length + 17)];
        Directory.CreateDirectory(Path.Combine(staging, "fs"));
        var clock = Stopwatch.StartNew();
        try
        {
            await fill(staging, cancellationToken).ConfigureAwait(false);
            await File.WriteAllTextAsync(Path.Combine(staging, Metadata), new JsonObject
            {
                ["id"] = id,
                ["step"] = step,
                ["builtAt"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
                ["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 3),
                ["forcedFor"] = forcedFor,
            }.ToJsonString(), cancellationToken).ConfigureAwait(false);
            Publish(staging, target, forcedFor is not null);
        }
        catch
        {
            await RemoveAsync(staging).ConfigureAwait(false);
            throw;
        }
        Interlocked.Increment(ref _buildsRun);
        return clock.Elapsed;
    }

    /// <summary>
    /// The directory of mounted files named <paramref name="key"/>, filled by <paramref name="fill"/> in a staging
    /// directory and published the first time it is asked for.
    /// </summary>
    public async Task<string> EnsureMountAsync(string key, Func<string, Task> fill, CancellationToken cancellationToken)
    {
        var dir = Path.Combine(_mounts, key);
        if (!Directory.Exists(dir))
        {
            await ShareAsync("mount|" + key, async () =>
            {
                if (Directory.Exists(dir))
                {
                    return false;
                }
                var staging = $"{dir}.partial-{Guid.NewGuid():N}"[..(dir.Length + 17)];
                Directory.CreateDirectory(staging);
                try
                {
                    await fill(staging).ConfigureAwait(false);
                    Publish(staging, dir, replace: false);
                }
                catch
                {
                    await RemoveAsync(staging).ConfigureAwait(false);
                    throw;
                }
                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        return dir;
    }

    /// <summary>The key under which concurrent builds of a layer are shared; a forced build is shared only within its app.</summary>
    public static string BuildKey(string id, string? forcedFor) => forcedFor is null ? id : $"{id}|force|{forcedFor}";

    /// <summary>
    /// Runs <paramref name="work"/> once for everyone asking under <paramref name="key"/> at the same time. The work
    /// outlives a request that gives up waiting, since others may be waiting for it; a failure left by a request that
    /// has gone is retried rather than handed on. <c>Ran</c> is true for the request whose work ran.
    /// </summary>
    public async Task<(bool Result, bool Ran)> ShareAsync(string key, Func<Task<bool>> work, CancellationToken cancellationToken)
    {
        var mine = new Lazy<Task<bool>>(work);
        var lazy = _building.GetOrAdd(key, mine);
        if (!ReferenceEquals(lazy, mine) && lazy.IsValueCreated && lazy.Value.IsFaulted && _building.TryUpdate(key, mine, lazy))
        {
            lazy = mine;
        }
        try
        {
            return (await lazy.Value.WaitAsync(cancellationToken).ConfigureAwait(false), ReferenceEquals(lazy, mine));
        }
        finally
        {
            if (lazy.Value.IsCompleted)
            {
                _building.TryRemove(new KeyValuePair<string, Lazy<Task<bool>>>(key, lazy));
            }
        }
    }

    /// <summary>Removes a directory tree a build wrote, which may hold what only root may remove.</summary>
    public static async Task RemoveAsync(string dir)
    {
        if (!Directory.Exists(dir))
        {
            return;
        }
        // rm copes with what Directory.Delete does not: the overlay work dir's root-only subdirectory and device-node whiteouts.
        await Processes.RunAsync("rm", ["-rf", "--one-file-system", dir], CancellationToken.None).ConfigureAwait(false);
    }

    private string LayerDir(string id) => Path.Combine(_layers, id);

    /// <summary>Moves a finished layer into place. A forced rebuild sets the old layer aside rather than deleting it under running containers.</summary>
    private static void Publish(string staging, string target, bool replace)
    {
        if (replace && Directory.Exists(target))
        {
            Directory.Move(target, $"{target}.trash-{Guid.NewGuid():N}"[..(target.Length + 15)]);
        }
        try
        {
            Directory.Move(staging, target);
        }
        catch (IOException) when (Directory.Exists(target))
        {
            // Another worker sharing this directory built the same layer first; its layer is as good as ours.
            Directory.Delete(staging, recursive: true);
        }
    }

    private static string? ForcedFor(string layer)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(Path.Combine(layer, Metadata)))?["forcedFor"]?.GetValue<string>();
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return null;
        }
    }

    /// <summary>Removes what a crashed worker left: unfinished builds and layers set aside by forced rebuilds.</summary>
    private static void RemoveStale(string dir)
    {
        foreach (var entry in Directory.EnumerateDirectories(dir))
        {
            var name = Path.GetFileName(entry);
            if ((name.Contains(".partial-", StringComparison.Ordinal) || name.Contains(".trash-", StringComparison.Ordinal))
                && DateTime.UtcNow - Directory.GetLastWriteTimeUtc(entry) > StaleAfter)
            {
                _ = Task.Run(async () =>
                {
                    // A build the worker was killed in still has its root mounted.
                    await Processes.RunAsync("umount", ["-l", Path.Combine(entry, "rootfs")], CancellationToken.None).ConfigureAwait(false);
                    await RemoveAsync(entry).ConfigureAwait(false);
                });
            }
        }
    }
}
