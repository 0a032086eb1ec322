using System.Globalization;
using FluentAssertions;

namespace Ferry.IntegrationTests;

/// <summary>The <c>ferry volume</c> commands as a process, against a real server.</summary>
public sealed class VolumeCliTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(1);

    [Fact]
    public async Task A_volume_path_spelled_like_a_help_flag_is_a_path()
    {
        var work = Directory.CreateTempSubdirectory("ferry-volume-cli-");
        var port = ServerProcess.FreePort();
        var tokenFile = Path.Combine(work.FullName, "token");
        using var server = await ServerProcess.StartAsync(port, Path.Combine(work.FullName, "data"), tokenFile);
        try
        {
            var environment = new Dictionary<string, string> { ["FERRY_TOKEN"] = (await File.ReadAllTextAsync(tokenFile)).Trim() };
            string[] at = ["--server", "http://127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture)];
            var local = Path.Combine(work.FullName, "notes.txt");
            await File.WriteAllTextAsync(local, "hello");
            (await CliProcess.RunAsync(["volume", "create", "notes", .. at], work.FullName, Limit, environment)).ExitCode.Should().Be(0);

            foreach (var path in new[] { "/h", "/?" })
            {
                var (exitCode, output) = await CliProcess.RunAsync(["volume", "put", "notes", local, path, .. at], work.FullName, Limit, environment);
                exitCode.Should().Be(0, output);
                output.Should().Contain("Put 1 file (5 B) in volume 'notes'").And.NotContain("Description:");
            }

            var listing = await CliProcess.RunAsync(["volume", "ls", "notes", .. at], work.FullName, Limit, environment);
            listing.Output.Should().Contain("/h ").And.Contain("/? ");
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
            work.Delete(recursive: true);
        }
    }
}
