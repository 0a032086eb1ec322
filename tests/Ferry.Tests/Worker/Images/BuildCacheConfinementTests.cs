using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using FluentAssertions;
using Ferry.Protocol;
using Ferry.Worker.Images;

namespace Ferry.Tests.Images;

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
