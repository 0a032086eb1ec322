using System.Net;
using System.Net.Http.Json;
using System.Text;
using FluentAssertions;
using Ferry.Protocol;
using Ferry.TestApp;

namespace Ferry.IntegrationTests;

/// <summary>Volumes mounted in containers of a real worker, and their file API from local code.</summary>
public sealed class VolumeTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);
    private readonly VolumeFunctions _f = fixture.Functions.Volumes;

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    private static Volume Data => Volume.FromName(VolumeFunctions.VolumeName);

    [Fact]
    public async Task Commit_InOneContainer_IsSeenByAnotherAfterReloadAndNotBefore()
    {
        await fixture.NewAppAsync();
        using var timeout = new CancellationTokenSource(Limit);
        var path = Unique("notes") + "/hello.txt";

        var before = await _f.Peek.RemoteAsync(path, false, timeout.Token);
        var writer = await _f.Write.RemoteAsync(path, "written in a container", true, timeout.Token);
        var snapshot = await _f.Peek.RemoteAsync(path, false, timeout.Token);
        var reloaded = await _f.Peek.RemoteAsync(path, true, timeout.Token);

        var reader = before.Split('|')[0];
        reader.Should().NotBe(writer, "the reader and the writer are containers of two functions");
        before.Should().Be(reader + "|<missing>");
        snapshot.Should().Be(reader + "|<missing>", "the reader's copy is a snapshot taken when it started");
        reloaded.Should().Be(reader + "|written in a container");
        Encoding.UTF8.GetString(await Data.ReadFileAsync(path, timeout.Token)).Should().Be("written in a container");
    }

    [Fact]
    public async Task Changes_AreCommittedWhenTheContainerExits()
    {
        await fixture.NewAppAsync();
        using var timeout = new CancellationTokenSource(Limit);
        var path = Unique("exit") + ".txt";

        await _f.Write.RemoteAsync(path, "kept at exit", false, timeout.Token);
        await FluentActions.Awaiting(() => Data.ReadFileAsync(path, timeout.Token)).Should().ThrowAsync<NotFoundException>("nothing was committed yet");
        // A new app stops the previous one's containers and waits for them to end.
        await fixture.NewAppAsync();

        Encoding.UTF8.GetString(await Data.ReadFileAsync(path, timeout.Token)).Should().Be("kept at exit");
    }

    [Fact]
    public async Task FileApi_WritesListsReadsAndRemoves_FromLocalCode()
    {
        await fixture.NewAppAsync();
        using var timeout = new CancellationTokenSource(Limit);
        var volume = Volume.FromName(Unique("files"), createIfMissing: true);
        var large = new byte[3 * 1024 * 1024 + 17];
        new Random(3).NextBytes(large);

        await volume.WriteFileAsync("/a/one.txt", "one"u8.ToArray(), timeout.Token);
        await volume.WriteFileAsync("a/b/large.bin", new MemoryStream(large), cancellationToken: timeout.Token);
        var local = Path.Combine(fixture.DataDirectory, Unique("put") + ".txt");
        await File.WriteAllTextAsync(local, "from disk", timeout.Token);
        await volume.PutFileAsync(local, "/top.txt", cancellationToken: timeout.Token);

        (await volume.ListAsync(cancellationToken: timeout.Token)).Should().Equal(
            new VolumeFileInfo("/a", true, 3 + large.Length, 0),
            new VolumeFileInfo("/top.txt", false, 9, OperatingSystem.IsWindows() ? 0 : File.GetUnixFileMode(local)));
        (await volume.ListAsync("/a", recursive: true, timeout.Token)).Select(e => (e.Path, e.Size)).Should().Equal(("/a/b/large.bin", large.Length), ("/a/one.txt", 3L));
        (await volume.ReadFileAsync("a/b/large.bin", timeout.Token)).Should().Equal(large);
        await using (var stream = await volume.OpenReadAsync("/top.txt", timeout.Token))
        {
            (await new StreamReader(stream).ReadToEndAsync(timeout.Token)).Should().Be("from disk");
        }

        await FluentActions.Awaiting(() => volume.RemoveAsync("/a", cancellationToken: timeout.Token)).Should().ThrowAsync<InvalidRequestException>().WithMessage("*is a directory*recursive*");
        await volume.RemoveAsync("/a/one.txt", cancellationToken: timeout.Token);
        (await volume.ListAsync("/a", cancellationToken: timeout.Token)).Select(e => e.Path).Should().Equal("/a/b");
        await volume.RemoveAsync("/a", recursive: true, timeout.Token);
        (await volume.ListAsync(cancellationToken: timeout.Token)).Select(e => e.Path).Should().Equal("/top.txt");
        await FluentActions.Awaiting(() => volume.ReadFileAsync("/a/b/large.bin", timeout.Token)).Should().ThrowAsync<NotFoundException>().WithMessage("*has no file 'a/b/large.bin'*");
    }

    [Fact]
    public async Task BadInput_UnknownVolumeEscapingPathsAndNoMount_GetClearErrors()
    {
        var appId = await fixture.NewAppAsync();
        using var timeout = new CancellationTokenSource(Limit);
        var missing = Unique("nowhere");

        await FluentActions.Awaiting(() => Volume.FromName(missing).ListAsync(cancellationToken: timeout.Token)).Should()
            .ThrowAsync<NotFoundException>().WithMessage($"*Volume '{missing}' does not exist*createIfMissing*");
        await FluentActions.Awaiting(() => Data.ReadFileAsync("../secrets.key", timeout.Token)).Should()
            .ThrowAsync<InvalidRequestException>().WithMessage("*'..' part*may not leave the volume*");
        await FluentActions.Awaiting(() => Data.WriteFileAsync("a/../../x", "x"u8.ToArray(), timeout.Token)).Should()
            .ThrowAsync<InvalidRequestException>().WithMessage("*may not leave the volume*");
        FluentActions.Invoking(() => Data.Path).Should().Throw<InvalidOperationException>().WithMessage("*not mounted in this process*");
        await FluentActions.Awaiting(() => Data.CommitAsync(timeout.Token)).Should().ThrowAsync<InvalidOperationException>();
        FluentActions.Invoking(() => fixture.Functions.App.Function<int, int>(x => x,
                new FunctionOptions { Volumes = new Dictionary<string, Volume> { ["/data/../etc"] = Data } }, name: Unique("bad_mount")))
            .Should().Throw<InvalidRequestException>().WithMessage("*'..' part*");

        using var http = fixture.NewHttpClient();
        var mountsMissing = new AppDefinition("missing-mount", [new FunctionDefinition("f", [], "Int32", new FunctionSettings { Volumes = [new VolumeMount("/data", missing)] })], []);
        using var refused = await http.PutAsJsonAsync(Routes.Definition(appId), mountsMissing, ProtocolJsonContext.Default.AppDefinition, timeout.Token);
        refused.StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await refused.Content.ReadFromJsonAsync(ProtocolJsonContext.Default.ErrorResponse, timeout.Token))!.Message.Should().Contain($"Function 'f' mounts volume '{missing}' at /data, and it does not exist");
    }

    [Fact]
    public async Task Volumes_SurviveAServerRestart()
    {
        await fixture.NewAppAsync();
        using var timeout = new CancellationTokenSource(Limit);
        var path = Unique("durable") + ".txt";
        await _f.Write.RemoteAsync(path, "before the restart", true, timeout.Token);

        await fixture.RestartServerAsync();
        await fixture.NewAppAsync();

        (await _f.Peek.RemoteAsync(path, false, timeout.Token)).Should().EndWith("|before the restart");
        Encoding.UTF8.GetString(await Data.ReadFileAsync(path, timeout.Token)).Should().Be("before the restart");
    }
}

/// <summary>On runc, a volume is bind-mounted at the path its function chose.</summary>
public sealed class RuncVolumeTests(RuncFixture fixture) : IClassFixture<RuncFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(180);

    [RuncFact]
    public async Task A_volume_is_mounted_at_its_path_and_a_commit_there_reaches_local_code()
    {
        await fixture.NewAppAsync().WaitAsync(Limit);
        using var timeout = new CancellationTokenSource(Limit);
        var path = "runc-" + Guid.NewGuid().ToString("N")[..8] + ".txt";

        (await fixture.Functions.Volumes.Where.RemoteAsync(0, timeout.Token)).Should().Be("/data");
        await fixture.Functions.Volumes.Write.RemoteAsync(path, "from runc", true, timeout.Token);

        Encoding.UTF8.GetString(await Volume.FromName(VolumeFunctions.VolumeName).ReadFileAsync(path, timeout.Token)).Should().Be("from runc");
    }
}
