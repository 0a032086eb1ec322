using System.Diagnostics;
using Ferry.Cli;

namespace Ferry.Bench;

/// <summary>
/// The benchmark hosts the control plane in its own process, so it runs with the .NET settings a local server starts
/// with (<see cref="ControlPlane.ServerRuntimeSettings"/>). The runtime reads them only as it starts, so a benchmark
/// started without them starts itself again with them; its containers inherit them, as a local server's do.
/// </summary>
internal static class ServerSettings
{
    /// <summary>The relaunched benchmark's exit code, or null when this process already has the settings.</summary>
    public static async Task<int?> RelaunchWithoutThemAsync(string[] args)
    {
        if (ControlPlane.ServerRuntimeSettings.Keys.All(key => Environment.GetEnvironmentVariable(key) is not null))
        {
            return null;
        }
        var info = new ProcessStartInfo(Environment.ProcessPath!);
        // Started as `dotnet Ferry.Bench.dll`, the host needs the assembly again; the app host does not.
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
        {
            info.ArgumentList.Add(typeof(ServerSettings).Assembly.Location);
        }
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        ControlPlane.AddServerRuntimeSettings(info.Environment);
        using var process = Process.Start(info)!;
        await process.WaitForExitAsync();
        return process.ExitCode;
    }
}
