using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using FluentAssertions;
using Ferry.Protocol;
using Ferry.Worker;
using Ferry.Worker.Images;
using Ferry.Worker.Runtimes.Runc;
using WorkerBuildException = Ferry.Worker.Images.ImageBuildException;

namespace Ferry.Tests;

public sealed class ConfinedPathTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-confined").FullName;

    private string Root => Path.Combine(_dir, "root");

    public ConfinedPathTests()
    {
        Directory.CreateDirectory(Path.Combine(Root, "a"));
        Directory.CreateDirectory(Path.Combine(_dir, "outside"));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_path_that_stays_inside_resolves_to_its_full_path()
    {
        ConfinedPath.Resolve(Root, "a/b.txt").Should().Be(Path.Combine(Root, "a", "b.txt"));
        ConfinedPath.Resolve(Root, "a/../c/d").Should().Be(Path.Combine(Root, "c", "d"));
        ConfinedPath.Resolve(Root + "/", ".").Should().Be(Root);
        ConfinedPath.ResolveInImage(Root, "/srv/work").Should().Be(Path.Combine(Root, "srv", "work"));
    }

    [Theory]
    [InlineData("../outside/x")]
    [InlineData("a/../../outside")]
    [InlineData("..")]
    [InlineData("/etc/passwd")]
    [InlineData("a/b\0c")]
    public void A_path_that_leaves_the_root_is_refused(string path)
    {
        ConfinedPath.Resolve(Root, path).Should().BeNull();
    }

    [Theory]
    [InlineData("/../outside")]
    [InlineData("/srv/../../outside")]
    [InlineData("srv")]
    public void A_container_path_that_is_relative_or_climbs_out_of_the_image_is_refused(string path)
    {
        ConfinedPath.ResolveInImage(Root, path).Should().BeNull();
    }

    [Fact]
    public void A_path_through_a_link_is_refused_even_a_dangling_one()
    {
        File.CreateSymbolicLink(Path.Combine(Root, "a", "out"), Path.Combine(_dir, "outside"));
        File.CreateSymbolicLink(Path.Combine(Root, "dangling"), Path.Combine(_dir, "outside", "new.txt"));

        ConfinedPath.Resolve(Root, "a/out/x.txt").Should().BeNull();
        ConfinedPath.Resolve(Root, "a/out").Should().BeNull();
        ConfinedPath.Resolve(Root, "dangling").Should().BeNull();
        ConfinedPath.Resolve(Root, "a/new.txt").Should().Be(Path.Combine(Root, "a", "new.txt"));
    }
}

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

public sealed class BuildCacheConfinementTests : IDisposable
{
    private static readonly byte[] Content = "abc"u8.ToArray();
    private static readonly string Hash = Convert.ToHexStringLower(SHA256.HashData(Content));

    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-build-cache").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private BuildCache CacheFor(params BuildFile[] files)
    {
        var http = new HttpClient(new FakeControlPlane(files)) { BaseAddress = new Uri("http://control-plane.test/") };
        return new BuildCache(http, Path.Combine(_dir, "builds"));
    }

    [Fact]
    public async Task A_build_lands_in_its_own_directory()
    {
        var (dir, entry) = await CacheFor(new BuildFile("App.dll", Hash, 3), new BuildFile("lib/x.dll", Hash, 3)).GetAsync("bd-good", CancellationToken.None);

        dir.Should().Be(Path.Combine(_dir, "builds", "bd-good"));
        entry.Should().Be("App.dll");
        File.ReadAllBytes(Path.Combine(dir, "lib", "x.dll")).Should().Equal(Content);
    }

    [Theory]
    [InlineData("../escape.dll")]
    [InlineData("lib/../../../escape.dll")]
    [InlineData("/tmp/escape.dll")]
    public async Task A_file_path_that_leaves_the_build_is_refused_and_nothing_is_written(string path)
    {
        var act = () => CacheFor(new BuildFile("App.dll", Hash, 3), new BuildFile(path, Hash, 3)).GetAsync("bd-bad", CancellationToken.None);

        await act.Should().ThrowAsync<InvalidOperationException>().WithMessage($"The build file path '{path}' leaves the build directory.");
        Directory.EnumerateFileSystemEntries(_dir, "escape*", SearchOption.AllDirectories).Should().BeEmpty();
        File.Exists("/tmp/escape.dll").Should().BeFalse();
    }

    [Theory]
    [InlineData("..")]
    [InlineData("../bd-other")]
    [InlineData(".")]
    public async Task A_build_id_that_is_not_a_plain_name_is_refused(string buildId)
    {
        var act = () => CacheFor(new BuildFile("App.dll", Hash, 3)).GetAsync(buildId, CancellationToken.None);

        await act.Should().ThrowAsync<InvalidOperationException>().WithMessage($"The build id '{buildId}' is not a plain name.");
    }

    private sealed class FakeControlPlane(BuildFile[] files) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var path = request.RequestUri!.AbsolutePath;
            var builds = "/" + Routes.Builds + "/";
            HttpContent body = path.StartsWith(builds, StringComparison.Ordinal)
                ? JsonContent.Create(new BuildManifest(Uri.UnescapeDataString(path[builds.Length..]), "App.dll", files), ProtocolJsonContext.Default.BuildManifest)
                : new ByteArrayContent(Content);
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = body });
        }
    }
}
