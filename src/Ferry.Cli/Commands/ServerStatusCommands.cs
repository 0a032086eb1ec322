using Ferry.Protocol;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry server status</c> and <c>ferry server stop</c>: the control plane this CLI talks to.</summary>
internal static class ServerStatusCommands
{
    /// <summary>The server's address, whether it answers, its version, and for the local server its process and files.</summary>
    public static async Task<int> StatusAsync(bool json, string? server, CancellationToken cancellationToken)
    {
        var local = ControlPlane.IsLocal(server) ? await ControlPlane.FindLocalAsync(cancellationToken).ConfigureAwait(false) : null;
        var url = server ?? Environment.GetEnvironmentVariable(FerryEnv.ServerUrl) ?? local?.Url.ToString();
        if (url is null)
        {
            throw new CliException("No local Ferry server is running; `ferry run` starts one, or start it with `ferry server`.", exitCode: 3);
        }
        using var client = await ControlPlane.ConnectAsync(url, startLocal: false, cancellationToken).ConfigureAwait(false);
        var health = await client.SendAsync<object, HealthResponse>(HttpMethod.Get, Routes.Health, null, null, ProtocolJsonContext.Default.HealthResponse, cancellationToken).ConfigureAwait(false);
        var status = new ServerStatus(client.ServerUrl.ToString(), health?.Status ?? "unknown", health?.Version ?? "unknown", local?.Pid,
            local is null ? null : FerryHome.Root, local is null ? null : FerryHome.ServerLog);
        if (json)
        {
            Console.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(status, ServerStatusJson.Default.ServerStatus));
            return 0;
        }
        Console.Out.WriteLine($"Server   {status.Url}");
        Console.Out.WriteLine($"Status   {status.Status}");
        Console.Out.WriteLine($"Version  {status.Version}");
        if (status.Pid is { } pid)
        {
            Console.Out.WriteLine($"Process  {pid} (local, started by ferry)");
            Console.Out.WriteLine($"Home     {status.Home}");
            Console.Out.WriteLine($"Log      {status.Log}");
        }
        return 0;
    }

    /// <summary>Stops the local server: its apps and containers stop with it.</summary>
    public static async Task<int> StopAsync(string? server, CancellationToken cancellationToken)
    {
        if (!ControlPlane.IsLocal(server))
        {
            throw new CliException("Only the local server can be stopped from here; stop a remote one where it runs.", exitCode: 2);
        }
        if (await ControlPlane.FindLocalAsync(cancellationToken).ConfigureAwait(false) is not { } local)
        {
            Output.Info("No local Ferry server is running.");
            return 0;
        }
        await Output.StatusAsync("Stopping the local server…", async () =>
        {
            await ControlPlane.StopLocalAsync(local.Pid, cancellationToken).ConfigureAwait(false);
            return 0;
        }).ConfigureAwait(false);
        Output.Info($"Stopped the local server (pid {local.Pid}) and its containers.");
        return 0;
    }
}

/// <summary>What <c>ferry server status --json</c> prints.</summary>
internal sealed record ServerStatus(string Url, string Status, string Version, int? Pid, string? Home, string? Log);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ServerStatus))]
internal sealed partial class ServerStatusJson : System.Text.Json.Serialization.JsonSerializerContext;
