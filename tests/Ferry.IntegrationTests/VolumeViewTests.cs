using System.Text;
using FluentAssertions;
using Ferry.Client;
using Ferry.Protocol;
using Ferry.Worker.Volumes;

namespace Ferry.IntegrationTests;

/// <summary>
/// Containers' views of a volume, as a worker makes them, against a real server: each container's writes stay its
/// own, and a commit reads and sends only what changed.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class VolumeViewTests(ServerFixture fixture) : IClassFixture<ServerFixture>, IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);
    private readonly string _root = Path.Combine(fixture.DataDirectory, "views-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly HttpClient _worker = new(Credentials.Handler(fixture.Fingerprint))
    {
        BaseAddress = fixture.Url,
        DefaultRequestHeaders = { Authorization = Credentials.Header(fixture.WorkerToken) },
    };

    /// <summary>Overlays are what a worker running as root on Linux gives its containers; elsewhere they get copies.</summary>
    private static bool Overlays => OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess;

    public void Dispose()
    {
        foreach (var point in Overlay.MountsUnder(_root))
        {
            Overlay.Unmount(point);
        }
        _worker.Dispose();
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task WriteInPlace_InOneContainersView_ChangesNeitherTheCacheNorAnotherView()
    {
        await fixture.NewAppAsync();
        using var timeout = new CancellationTokenSource(Limit);
        var volume = Volume.FromName(Unique("views"), createIfMissing: true);
        await volume.WriteFileAsync("dir/shared.txt", "original content"u8.ToArray(), timeout.Token);
        var hash = (await ManifestAsync(volume.Name, timeout.Token)).Files.Single().Hash;
        var cache = new VolumeCache(_worker, _root);
        var mount = new VolumeMount("/data", volume.Name);

        var first = (await cache.PrepareAsync("c-first", [mount], timeout.Token)).Single();
        var second = (await cache.PrepareAsync("c-second", [mount], timeout.Token)).Single();
        var cached = Path.Combine(_root, "blobs", hash[..2], hash);
        var cachedMode = File.GetUnixFileMode(cached);
        var written = Path.Combine(first.HostDir, "dir", "shared.txt");
        await using (var file = new FileStream(written, FileMode.Open, FileAccess.Write))
        {
            // Into the file in place, not a new file renamed over it: a shared inode would carry this everywhere.
            await file.WriteAsync("CHANGED!"u8.ToArray(), timeout.Token);
        }
        File.SetUnixFileMode(written, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        cache.UsesOverlays.Should().Be(Overlays);
        if (Overlays)
        {
            Overlay.MountsUnder(_root).Should().BeEquivalentTo([first.HostDir, second.HostDir], "each container's view is its own overlay");
        }
        (await File.ReadAllTextAsync(written, timeout.Token)).Should().Be("CHANGED! content");
        (await File.ReadAllTextAsync(Path.Combine(second.HostDir, "dir", "shared.txt"), timeout.Token)).Should().Be("original content");
        (await File.ReadAllTextAsync(cached, timeout.Token)).Should().Be("original content");
        File.GetUnixFileMode(cached).Should().Be(cachedMode);

        cache.Release("c-first");
        cache.Release("c-second");
        Overlay.MountsUnder(_root).Should().BeEmpty();
        Directory.Exists(first.HostDir).Should().BeFalse();
        var trees = Path.Combine(_root, "trees");
        (Directory.Exists(trees) ? Directory.EnumerateFileSystemEntries(trees) : []).Should().BeEmpty("a version's tree goes when no view stands on it");
        (await File.ReadAllTextAsync(cached, timeout.Token)).Should().Be("original content", "the cache is kept for later containers");
    }

    [Fact]
    public async Task Commit_FromAView_SendsOnlyChangedFilesAndRemovesDeletedOnes()
    {
        await fixture.NewAppAsync();
        using var timeout = new CancellationTokenSource(Limit);
        var volume = Volume.FromName(Unique("commit"), createIfMissing: true);
        await volume.WriteFileAsync("keep.txt", "kept as it was"u8.ToArray(), timeout.Token);
        await volume.WriteFileAsync("change.txt", "before"u8.ToArray(), timeout.Token);
        await volume.WriteFileAsync("gone/old.txt", "to be deleted"u8.ToArray(), timeout.Token);
        var cache = new VolumeCache(_worker, _root);
        var view = (await cache.PrepareAsync("c-commit", [new VolumeMount("/data", volume.Name)], timeout.Token)).Single();
        using var client = new FerryClient(fixture.Url, fixture.AdminToken, fingerprint: fixture.Fingerprint);
        var sync = new VolumeSync(new VolumeMountState(volume.Name, "/data", view.HostDir, view.StateFile));

        await File.WriteAllTextAsync(Path.Combine(view.HostDir, "change.txt"), "after, and longer", timeout.Token);
        await File.WriteAllTextAsync(Path.Combine(view.HostDir, "new.txt"), "new " + Guid.NewGuid(), timeout.Token);
        File.Delete(Path.Combine(view.HostDir, "gone", "old.txt"));
        var summary = await sync.CommitAsync(client, timeout.Token);

        summary.Hashed.Should().BeEquivalentTo(["change.txt", "new.txt"], "keep.txt did not change, so it is not read");
        summary.Uploaded.Should().BeEquivalentTo(["change.txt", "new.txt"]);
        summary.Removed.Should().Equal("gone/old.txt");
        var manifest = await ManifestAsync(volume.Name, timeout.Token);
        manifest.Files.Select(f => f.Path).Should().BeEquivalentTo(["change.txt", "keep.txt", "new.txt"]);
        Encoding.UTF8.GetString(await volume.ReadFileAsync("change.txt", timeout.Token)).Should().Be("after, and longer");
        Encoding.UTF8.GetString(await volume.ReadFileAsync("keep.txt", timeout.Token)).Should().Be("kept as it was");

        var again = await sync.CommitAsync(client, timeout.Token);
        again.Hashed.Should().BeEmpty("nothing changed since the last commit");
        again.Uploaded.Should().BeEmpty();
        again.Removed.Should().BeEmpty();
        again.Version.Should().Be(summary.Version);
        cache.Release("c-commit");
    }

    [Fact]
    public async Task Prepare_BesideTheServer_LinksTheServersBlobIntoTheCacheAndTheViewStillKeepsItsWrites()
    {
        await fixture.NewAppAsync();
        using var timeout = new CancellationTokenSource(Limit);
        var volume = Volume.FromName(Unique("linked"), createIfMissing: true);
        await volume.WriteFileAsync("weights.bin", "stored by the server"u8.ToArray(), timeout.Token);
        var hash = (await ManifestAsync(volume.Name, timeout.Token)).Files.Single().Hash;
        var stored = Path.Combine(fixture.DataDirectory, "blobs", hash[..2], hash);
        var cache = new VolumeCache(_worker, _root, Path.Combine(fixture.DataDirectory, "blobs"));

        var view = (await cache.PrepareAsync("c-linked", [new VolumeMount("/data", volume.Name)], timeout.Token)).Single();
        var cached = Path.Combine(_root, "blobs", hash[..2], hash);
        // One inode has one modification time: setting it through one name shows it through the other.
        var marker = new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(stored, marker);
        File.GetLastWriteTimeUtc(cached).Should().Be(marker, "the cached file is the server's stored blob, linked, not a download");
        await File.WriteAllTextAsync(Path.Combine(view.HostDir, "weights.bin"), "changed in the container", timeout.Token);

        (await File.ReadAllTextAsync(stored, timeout.Token)).Should().Be("stored by the server");
        Encoding.UTF8.GetString(await volume.ReadFileAsync("weights.bin", timeout.Token)).Should().Be("stored by the server");
        cache.Release("c-linked");
    }

    private async Task<VolumeManifest> ManifestAsync(string volume, CancellationToken cancellationToken)
    {
        using var response = await _worker.GetAsync("/" + Routes.VolumeManifest(volume), cancellationToken);
        response.EnsureSuccessStatusCode();
        return (await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync(response.Content, ProtocolJsonContext.Default.VolumeManifest, cancellationToken))!;
    }
}
