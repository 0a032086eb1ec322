using System.Security.Cryptography;
using FluentAssertions;
using Ferry.Protocol;
using Ferry.Worker.Images;
using Ferry.Worker.Runtimes.Runc;
using WorkerBuildException = Ferry.Worker.Images.ImageBuildException;

namespace Ferry.Tests.Images;

/// <summary>The image builder handed steps directly, as a worker is, with no control plane to check them first.</summary>
public sealed class ImageBuilderConfinementTests : IDisposable
{
    private static readonly byte[] Content = "abc"u8.ToArray();
    private static readonly string Hash = Convert.ToHexStringLower(SHA256.HashData(Content));

    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-builder-confined").FullName;
    private readonly string _escape = "ferry-escape-" + Guid.NewGuid().ToString("N")[..8];
    private readonly FakeBlobs _blobs = new();
    private readonly ImageBuilder _builder;

    public ImageBuilderConfinementTests()
    {
        var images = Path.Combine(_dir, "images");
        var baseImage = new BaseImage(images, mirror: null);
        // An existing base directory is taken as built: steps that only write files need no debootstrap or runc.
        Directory.CreateDirectory(baseImage.Path);
        _builder = new ImageBuilder(images, Path.Combine(_dir, "state"), baseImage, new ContainerNetwork(_dir, isolated: false));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Enough <c>..</c> to climb from any layer directory to <c>/</c>, where the escape would land.</summary>
    private string Climbing => "/" + string.Concat(Enumerable.Repeat("../", 16)) + _escape;

    private Task<ResolvedImage> EnsureAsync(params ImageStep[] steps) =>
        _builder.EnsureAsync(new ImageSpec(ImageBases.DebianSlim, steps), new ImageRequest("ap-test", _dir, "App.dll", _blobs), _ => { }, CancellationToken.None);

    private void NothingEscaped()
    {
        Path.Exists("/" + _escape).Should().BeFalse();
        Directory.EnumerateFileSystemEntries(_dir, "*escape*", SearchOption.AllDirectories).Should().BeEmpty();
    }

    [Fact]
    public async Task A_file_copied_inside_the_image_lands_in_its_layer()
    {
        var image = await EnsureAsync(new ImageStep(ImageStepKinds.AddLocal, ["/data", "dir", "copy"], Files: [new BuildFile("sub/x.txt", Hash, 3)]));

        File.ReadAllBytes(Path.Combine(image.Lowers[0], "data", "sub", "x.txt")).Should().Equal(Content);
    }

    [Fact]
    public async Task An_add_local_target_that_climbs_out_is_refused_and_nothing_is_written()
    {
        var act = () => EnsureAsync(new ImageStep(ImageStepKinds.AddLocal, [Climbing, "dir", "copy"], Files: [new BuildFile("x.txt", Hash, 3)]));

        await act.Should().ThrowAsync<WorkerBuildException>().WithMessage("The image definition is not valid: The field 'steps[0].args[0]' must be an absolute path*");
        _blobs.Downloads.Should().BeEmpty();
        NothingEscaped();
    }

    [Fact]
    public async Task A_workdir_or_a_file_path_that_climbs_out_is_refused_and_nothing_is_written()
    {
        var workdir = () => EnsureAsync(new ImageStep(ImageStepKinds.Workdir, [Climbing]));
        var file = () => EnsureAsync(new ImageStep(ImageStepKinds.AddLocal, ["/data", "dir", "mount"], Files: [new BuildFile("../../../../../../../../../../../../" + _escape, Hash, 3)]));

        await workdir.Should().ThrowAsync<WorkerBuildException>().WithMessage("*'steps[0].args[0]'*");
        await file.Should().ThrowAsync<WorkerBuildException>().WithMessage("*'steps[0].files[0].path'*");
        _blobs.Downloads.Should().BeEmpty();
        NothingEscaped();
    }

    [Fact]
    public void Each_path_the_builder_writes_is_confined_on_its_own_too()
    {
        var fs = Path.Combine(_dir, "fs");
        Directory.CreateDirectory(fs);
        File.CreateSymbolicLink(Path.Combine(fs, "etc"), "/etc");

        ImagePaths.ConfineInImage(fs, "/srv").Should().Be(Path.Combine(fs, "srv"));
        FluentActions.Invoking(() => ImagePaths.ConfineInImage(fs, Climbing)).Should().Throw<WorkerBuildException>()
            .WithMessage($"The container path '{Climbing}' is not an absolute path inside the image; the step was refused.");
        FluentActions.Invoking(() => ImagePaths.ConfineInImage(fs, "/etc/cron.d")).Should().Throw<WorkerBuildException>();
        FluentActions.Invoking(() => ImagePaths.Confine(fs, "../x")).Should().Throw<WorkerBuildException>()
            .WithMessage("The file path '../x' leaves its directory; the step was refused.");
        FluentActions.Invoking(() => ImagePaths.Confine(fs, "")).Should().Throw<WorkerBuildException>();
    }

    private sealed class FakeBlobs : IBlobSource
    {
        public List<string> Downloads { get; } = [];

        public async Task DownloadAsync(string hash, string target, CancellationToken cancellationToken)
        {
            lock (Downloads)
            {
                Downloads.Add(target);
            }
            await File.WriteAllBytesAsync(target, Content, cancellationToken);
        }
    }
}
