using System.Globalization;
using System.Net;
using System.Net.Sockets;
using FluentAssertions;
using Ferry.Protocol;

namespace Ferry.IntegrationTests;

/// <summary>How <c>ferry server</c> starts: where it runs from, what it leaves, and what it says when it cannot listen.</summary>
public sealed class ServerStartTests
{
    /// <summary>Runs the CLI, which must fail with exit code 1 and no exception or stack trace; returns what it printed.</summary>
    private static async Task<string> FailsAsync(IReadOnlyList<string> arguments, string workingDirectory)
    {
        var (exitCode, output) = await CliProcess.RunAsync(arguments, workingDirectory, TimeSpan.FromMinutes(1));
        exitCode.Should().Be(1, output);
        output.Should().NotContain("Exception").And.NotContain("   at ");
        return output;
    }

    [Fact]
    public async Task An_address_it_cannot_have_is_named_in_one_line_with_the_option_that_moves_it()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var taken = ((IPEndPoint)holder.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture);
        var port = ServerProcess.FreePort().ToString(CultureInfo.InvariantCulture);
        var work = Directory.CreateTempSubdirectory("ferry-data-");
        try
        {
            string[] common = ["--data-dir", work.FullName, "--token-file", Path.Combine(work.FullName, "token"), "--runtime", "process"];

            (await FailsAsync(["server", "--port", taken, .. common], work.FullName))
                .Should().Contain($"Error: Port {taken} on 127.0.0.1 is in use by another program, so the control plane cannot listen there. Choose another with --port, or stop the program that holds it.");
            (await FailsAsync(["server", "--port", port, "--gateway-port", taken, .. common], work.FullName))
                .Should().Contain($"Error: Port {taken} on 127.0.0.1 is in use by another program, so the web gateway cannot listen there. Choose another with --gateway-port, or stop the program that holds it.");
            // 192.0.2.0/24 is reserved for documentation: no machine has it.
            (await FailsAsync(["server", "--bind", "192.0.2.1", "--port", port, .. common], work.FullName))
                .Should().Contain("Error: 192.0.2.1 is not an address of this machine, so the control plane cannot listen on it. Choose one of its addresses with --bind, or 0.0.0.0 for all of them.");
            (await FailsAsync(["server", "--port", "70000", .. common], work.FullName))
                .Should().Contain("--port takes a port from 0 to 65535; 70000 is not one.");
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_data_directory_token_file_or_certificate_it_cannot_use_is_named_in_one_line()
    {
        var work = Directory.CreateTempSubdirectory("ferry-paths-");
        try
        {
            var file = Path.Combine(work.FullName, "a-file");
            await File.WriteAllTextAsync(file, "not a certificate");
            var port = ServerProcess.FreePort().ToString(CultureInfo.InvariantCulture);
            var token = Path.Combine(work.FullName, "token");
            var data = Path.Combine(work.FullName, "data");

            (await FailsAsync(["server", "--port", port, "--data-dir", file, "--token-file", token, "--runtime", "process"], work.FullName))
                .Should().Contain($"Error: The data directory '{file}' is a file. Choose another directory with --data-dir.");
            // Nothing, not even root, can make a file under /proc.
            (await FailsAsync(["server", "--port", port, "--data-dir", "/proc/ferry-data", "--token-file", token, "--runtime", "process"], work.FullName))
                .Should().Contain("Error: The data directory '/proc/ferry-data' cannot be used: ").And.Contain("Choose another directory with --data-dir.");
            (await FailsAsync(["server", "--port", port, "--data-dir", data, "--token-file", "/proc/ferry/token", "--runtime", "process"], work.FullName))
                .Should().Contain("Error: The token file '/proc/ferry/token' cannot be written: ").And.Contain("Choose another with --token-file.");
            (await FailsAsync(["worker", "--server-url", "http://127.0.0.1:1", "--token", "t", "--data-dir", "/proc/ferry-worker"], work.FullName))
                .Should().Contain("Error: The data directory '/proc/ferry-worker' cannot be used: ").And.Contain("Choose another directory with --data-dir.");
            (await FailsAsync(["server", "--port", port, "--data-dir", data, "--token-file", token, "--runtime", "process", "--tls-cert", file], work.FullName))
                .Should().Contain($"Error: Cannot load the TLS certificate from '{file}': ")
                .And.Contain("Pass a PEM certificate with --tls-cert and its key with --tls-key, or a PKCS#12 file with --tls-cert alone.");
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_server_started_in_a_project_takes_no_settings_from_it_watches_none_of_its_tree_and_writes_nothing_home()
    {
        var project = Directory.CreateTempSubdirectory("ferry-project-");
        var dataDir = Directory.CreateTempSubdirectory("ferry-data-");
        var home = Directory.CreateTempSubdirectory("ferry-home-");
        try
        {
            for (var i = 0; i < 20; i++)
            {
                Directory.CreateDirectory(Path.Combine(project.FullName, $"src{i}", "obj", "bin"));
            }
            // An ASP.NET project's settings: an endpoint of its own, and verbose logging.
            var projectPort = ServerProcess.FreePort();
            await File.WriteAllTextAsync(Path.Combine(project.FullName, "appsettings.json"),
                """{"Kestrel":{"Endpoints":{"Http":{"Url":"http://127.0.0.1:PORT"}}},"Logging":{"LogLevel":{"Default":"Trace"}}}"""
                    .Replace("PORT", projectPort.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal));
            var port = ServerProcess.FreePort();

            using var server = await ServerProcess.StartAsync(port, dataDir.FullName, Path.Combine(dataDir.FullName, "token"), project.FullName,
                new Dictionary<string, string> { ["HOME"] = home.FullName });
            try
            {
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
                (await http.GetAsync(new Uri(new Uri($"http://127.0.0.1:{port}/"), Routes.Health.TrimStart('/')))).StatusCode.Should().Be(HttpStatusCode.OK);

                using var socket = new TcpClient();
                var connecting = async () => await socket.ConnectAsync(IPAddress.Loopback, projectPort);
                await connecting.Should().ThrowAsync<SocketException>("the project's endpoint is not the server's");
                InotifyWatches(server.Id).Should().Be(0, "the server watches no directory for settings");
                home.EnumerateFileSystemInfos("*", SearchOption.AllDirectories).Select(f => f.FullName).Should().BeEmpty("the server's state is in its data directory");
            }
            finally
            {
                server.Kill(entireProcessTree: true);
                await server.WaitForExitAsync();
            }
        }
        finally
        {
            project.Delete(recursive: true);
            dataDir.Delete(recursive: true);
            home.Delete(recursive: true);
        }
    }

    /// <summary>The inotify watches <paramref name="pid"/> holds, from its open descriptors' information.</summary>
    private static int InotifyWatches(int pid)
    {
        var watches = 0;
        foreach (var descriptor in Directory.GetFiles($"/proc/{pid}/fdinfo"))
        {
            try
            {
                watches += File.ReadLines(descriptor).Count(line => line.StartsWith("inotify wd:", StringComparison.Ordinal));
            }
            catch (IOException)
            {
                // Closed since it was listed.
            }
        }
        return watches;
    }
}
