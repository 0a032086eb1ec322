using System.Security.Cryptography;
using FluentAssertions;
using Ferry.Protocol;
using Ferry.Worker.Images;
using Ferry.Worker.Runtimes.Runc;

namespace Ferry.Tests.Images;

/// <summary>
/// The layer store, on its own and driven through the image builder with file-copy steps, which need no runc: an
/// existing base directory is taken as built.
/// </summary>
public sealed class LayerStoreTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly byte[] Content = "abc"u8.ToArray();
    private static readonly string Hash = Convert.ToHexStringLower(SHA256.HashData(Content));
    private static readonly ImageSpec CopySpec = new(ImageBases.DebianSlim, [
        new ImageStep(ImageStepKinds.AddLocal, ["/data", "dir", "copy"], Files: [new BuildFile("x.txt", Hash, 3)]),
    ]);

    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-layer-store").FullName;
    private readonly ImageBuilder _builder;

    public LayerStoreTests()
    {
        var images = Path.Combine(_dir, "images");
        var baseImage = new BaseImage(images, mirror: null);
        Directory.CreateDirectory(baseImage.Path);
        _builder = new ImageBuilder(images, Path.Combine(_dir, "state"), baseImage, new ContainerNetwork(_dir, isolated: false));
    }

    private string LayersDir => Path.Combine(_dir, "images", "layers");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Task<ResolvedImage> EnsureAsync(string app, IBlobSource blobs) =>
        _builder.EnsureAsync(CopySpec, new ImageRequest(app, _dir, "App.dll", blobs), _ => { }, CancellationToken.None);

    [Fact]
    public async Task EnsureAsync_TwoRequestsForTheSameMissingLayer_BuildItOnce()
    {
        var blobs = new GatedBlobs();

        var first = EnsureAsync("ap-one", blobs);
        await blobs.Started.Task.WaitAsync(Timeout);
        var second = EnsureAsync("ap-two", blobs);
        var waiting = second.IsCompleted;
        blobs.Release.SetResult();
        var both = await Task.WhenAll(first, second).WaitAsync(Timeout);

        waiting.Should().BeFalse("the second request waits for the build the first started");
        blobs.Downloads.Should().Be(1);
        _builder.BuildsRun.Should().Be(1);
        both.Select(i => i.BuiltLayers).Should().Equal(1, 0);
        both[0].Lowers.Should().Equal(both[1].Lowers);
        File.ReadAllBytes(Path.Combine(both[0].Lowers[0], "data", "x.txt")).Should().Equal(Content);
    }

    [Fact]
    public async Task EnsureAsync_LayerOnDisk_BuildsNothing()
    {
        var blobs = new GatedBlobs();
        blobs.Release.SetResult();
        var built = await EnsureAsync("ap-one", blobs).WaitAsync(Timeout);

        var again = await EnsureAsync("ap-two", blobs).WaitAsync(Timeout);

        again.BuiltLayers.Should().Be(0);
        again.Lowers.Should().Equal(built.Lowers);
        blobs.Downloads.Should().Be(1);
    }

    [Fact]
    public async Task EnsureAsync_StepFails_LeavesNoLayerAndNoStaging()
    {
        var act = () => EnsureAsync("ap-one", new FailingBlobs()).WaitAsync(Timeout);

        await act.Should().ThrowAsync<IOException>().WithMessage("download failed");
        Directory.EnumerateFileSystemEntries(LayersDir).Should().BeEmpty();
        _builder.BuildsRun.Should().Be(0);
    }

    [Fact]
    public async Task BuildAsync_ForcedForAnApp_SetsTheOldLayerAsideAndCountsOnlyForThatApp()
    {
        var store = new LayerStore(Path.Combine(_dir, "store"));
        static Task Fill(string staging, CancellationToken cancellationToken) =>
            File.WriteAllTextAsync(Path.Combine(staging, "fs", "x.txt"), "x", cancellationToken);

        await store.BuildAsync("l1", "run_commands true", null, Fill, CancellationToken.None).WaitAsync(Timeout);
        var before = (store.Has("l1", null), store.Has("l1", "ap-one"));
        await store.BuildAsync("l1", "run_commands true", "ap-one", Fill, CancellationToken.None).WaitAsync(Timeout);

        before.Should().Be((true, false));
        store.Has("l1", "ap-one").Should().BeTrue();
        store.Has("l1", "ap-two").Should().BeFalse();
        store.FilesOf("l1").Should().Be(Path.Combine(_dir, "store", "layers", "l1", "fs"));
        Directory.GetDirectories(Path.Combine(_dir, "store", "layers")).Select(Path.GetFileName)
            .Should().ContainSingle(name => name!.StartsWith("l1.trash-", StringComparison.Ordinal));
        store.BuildsRun.Should().Be(2);
    }

    [Fact]
    public void BuildKey_ForcedBuild_IsSharedOnlyWithinItsApp()
    {
        LayerStore.BuildKey("l1", null).Should().Be("l1");
        LayerStore.BuildKey("l1", "ap-one").Should().Be("l1|force|ap-one");
    }

    private sealed class GatedBlobs : IBlobSource
    {
        private int _downloads;

        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Downloads => Volatile.Read(ref _downloads);

        public async Task DownloadAsync(string hash, string target, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _downloads);
            Started.TrySetResult();
            await Release.Task.WaitAsync(Timeout, cancellationToken);
            await File.WriteAllBytesAsync(target, Content, cancellationToken);
        }
    }

    private sealed class FailingBlobs : IBlobSource
    {
        public Task DownloadAsync(string hash, string target, CancellationToken cancellationToken) => throw new IOException("download failed");
    }
}
