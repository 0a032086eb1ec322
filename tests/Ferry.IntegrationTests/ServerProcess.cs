using System.Diagnostics;
using System.Globalization;
using Ferry.Cli;

namespace Ferry.IntegrationTests;

/// <summary>A real <c>ferry server</c> process from this test build's CLI, for tests that kill it or its clients.</summary>
internal static class ServerProcess
{
    /// <summary>The CLI's assembly, built beside this test project.</summary>
    public static string CliPath => Path.Combine(
        AppContext.BaseDirectory.Replace("Ferry.IntegrationTests", "Ferry.Cli", StringComparison.Ordinal)
            .Replace(Path.Combine("tests", "Ferry.Cli"), Path.Combine("src", "Ferry.Cli"), StringComparison.Ordinal),
        "Ferry.Cli.dll");

    /// <summary>A loopback port free at the time of asking, outside the range the kernel gives outgoing connections.</summary>
    public static int FreePort() => ListenPort.Pick();

    /// <summary>
    /// Starts the server on <paramref name="port"/> with process containers and its gateway on a free port, and returns
    /// once it listens; the exception carries what it printed when it exits first. It runs in
    /// <paramref name="workingDirectory"/> when given, else in this process's, with <paramref name="environment"/> over
    /// this process's environment.
    /// </summary>
    public static async Task<Process> StartAsync(int port, string dataDir, string tokenFile, string? workingDirectory = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (workingDirectory is not null)
        {
            info.WorkingDirectory = workingDirectory;
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }
        foreach (var arg in new[] { CliPath, "server", "--port", port.ToString(CultureInfo.InvariantCulture), "--data-dir", dataDir, "--token-file", tokenFile, "--runtime", "process", "--gateway-port", "0" })
        {
            info.ArgumentList.Add(arg);
        }
        var server = Process.Start(info)!;
        // The server prints its address once it listens; reading that line is the readiness signal.
        var seen = new List<string>();
        while (await server.StandardError.ReadLineAsync() is { } line)
        {
            seen.Add(line);
            if (line.Contains("listening on", StringComparison.Ordinal))
            {
                _ = server.StandardError.ReadToEndAsync();
                _ = server.StandardOutput.ReadToEndAsync();
                return server;
            }
        }
        seen.Add(await server.StandardOutput.ReadToEndAsync());
        server.Dispose();
        throw new InvalidOperationException($"The server exited before it listened:\n{string.Join('\n', seen)}");
    }
}
