using System.Globalization;
using System.Net;
using System.Net.Sockets;
using FluentAssertions;
using Ferry.Protocol;

namespace Ferry.IntegrationTests;

/// <summary>How <c>ferry server</c> starts: where it runs from, what it leaves, and what it says when it cannot listen.</summary>
public sealed class ServerStartTests
{
    [Fact]
    public async Task An_address_it_cannot_have_is_named_in_one_line_with_the_option_that_moves_it()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var taken = ((IPEndPoint)holder.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture);
        var dataDir = Directory.CreateTempSubdirectory("ferry-data-");
        try
        {
            string[] common = ["--data-dir", dataDir.FullName, "--token-file", Path.Combine(dataDir.FullName, "token"), "--runtime", "process"];

            var (exitCode, output) = await CliProcess.RunAsync(["server", "--port", taken, .. common], dataDir.FullName, TimeSpan.FromMinutes(1));

            exitCode.Should().Be(1, output);
            output.Should().Contain($"Error: Port {taken} on 127.0.0.1 is in use by another program, so the control plane cannot listen there. Choose another with --port, or stop the program that holds it.");
            output.Should().NotContain("Exception").And.NotContain("   at ");

            var port = ServerProcess.FreePort().ToString(CultureInfo.InvariantCulture);
            (exitCode, output) = await CliProcess.RunAsync(["server", "--port", port, "--gateway-port", taken, .. common], dataDir.FullName, TimeSpan.FromMinutes(1));

            exitCode.Should().Be(1, output);
            output.Should().Contain($"Error: Port {taken} on 127.0.0.1 is in use by another program, so the web gateway cannot listen there. Choose another with --gateway-port, or stop the program that holds it.");
            output.Should().NotContain("Exception").And.NotContain("   at ");

            // 192.0.2.0/24 is reserved for documentation: no machine has it.
            (exitCode, output) = await CliProcess.RunAsync(["server", "--bind", "192.0.2.1", "--port", port, .. common], dataDir.FullName, TimeSpan.FromMinutes(1));

            exitCode.Should().Be(1, output);
            output.Should().Contain("Error: 192.0.2.1 is not an address of this machine, so the control plane cannot listen on it. Choose one of its addresses with --bind, or 0.0.0.0 for all of them.");
            output.Should().NotContain("Exception").And.NotContain("   at ");
        }
        finally
        {
            dataDir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_data_directory_or_token_file_it_cannot_use_is_named_in_one_line()
    {
        var work = Directory.CreateTempSubdirectory("ferry-paths-");
        try
        {
            var file = Path.Combine(work.FullName, "a-file");
            await File.WriteAllTextAsync(file, "");
            var port = ServerProcess.FreePort().ToString(CultureInfo.InvariantCulture);

            var (exitCode, output) = await CliProcess.RunAsync(["server", "--port", port, "--data-dir", file, "--token-file", Path.Combine(work.FullName, "token"), "--runtime", "process"], work.FullName, TimeSpan.FromMinutes(1));

            exitCode.Should().Be(1, output);
            output.Should().Contain($"Error: The data directory '{file}' is a file. Choose a directory with --data-dir.");

            // Nothing, not even root, can make a file under /proc.
            (exitCode, output) = await CliProcess.RunAsync(["server", "--port", port, "--data-dir", "/proc/ferry-data", "--token-file", Path.Combine(work.FullName, "token"), "--runtime", "process"], work.FullName, TimeSpan.FromMinutes(1));

            exitCode.Should().Be(1, output);
            output.Should().Contain("Error: The data directory '/proc/ferry-data' cannot be used: ").And.Contain("Choose another with --data-dir.");

            (exitCode, output) = await CliProcess.RunAsync(["server", "--port", port, "--data-dir", Path.Combine(work.FullName, "data"), "--token-file", "/proc/ferry/token", "--runtime", "process"], work.FullName, TimeSpan.FromMinutes(1));

            exitCode.Should().Be(1, output);
            output.Should().Contain("Error: The token file '/proc/ferry/token' cannot be written: ").And.Contain("Choose another with --token-file.");
            output.Should().NotContain("Exception").And.NotContain("   at ");

            (exitCode, output) = await CliProcess.RunAsync(["worker", "--server-url", "http://127.0.0.1:1", "--token", "t", "--data-dir", "/proc/ferry-worker"], work.FullName, TimeSpan.FromMinutes(1));

            exitCode.Should().Be(1, output);
            output.Should().Contain("Error: The data directory '/proc/ferry-worker' cannot be used: ").And.Contain("Choose another with --data-dir.");
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_port_out_of_range_or_a_certificate_that_is_not_one_is_named_in_one_line()
    {
        var work = Directory.CreateTempSubdirectory("ferry-settings-");
        try
        {
            string[] common = ["--data-dir", Path.Combine(work.FullName, "data"), "--token-file", Path.Combine(work.FullName, "token"), "--runtime", "process"];

            var (exitCode, output) = await CliProcess.RunAsync(["server", "--port", "70000", .. common], work.FullName, TimeSpan.FromMinutes(1));

            exitCode.Should().Be(1, output);
            output.Should().Contain("--port takes a port from 0 to 65535; 70000 is not one.");

            var certificate = Path.Combine(work.FullName, "cert.pem");
            await File.WriteAllTextAsync(certificate, "not a certificate");
            var port = ServerProcess.FreePort().ToString(CultureInfo.InvariantCulture);
            (exitCode, output) = await CliProcess.RunAsync(["server", "--port", port, "--tls-cert", certificate, .. common], work.FullName, TimeSpan.FromMinutes(1));

            exitCode.Should().Be(1, output);
            output.Should().Contain($"Error: Cannot load the TLS certificate from '{certificate}': ")
                .And.Contain("Pass a PEM certificate with --tls-cert and its key with --tls-key, or a PKCS#12 file with --tls-cert alone.");
            output.Should().NotContain("Exception").And.NotContain("   at ");
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
