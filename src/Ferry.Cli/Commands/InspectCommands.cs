using Ferry.Client;
using Ferry.Protocol;
using Spectre.Console;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry app ...</c> and <c>ferry container ...</c>.</summary>
internal static class InspectCommands
{
    private static readonly ProtocolJsonContext Json = ProtocolJsonContext.Default;

    public static async Task<int> AppListAsync(bool json, string? server, CancellationToken cancellationToken)
    {
        using var client = await ControlPlane.ConnectAsync(server, startLocal: false, cancellationToken).ConfigureAwait(false);
        var apps = await client.SendAsync<object, AppList>(HttpMethod.Get, Routes.Apps, null, null, Json.AppList, cancellationToken).ConfigureAwait(false);
        // A running app that is not deployed lives while its client does: people know it as ephemeral.
        Output.Listing(apps, Json.AppList, json, ["App id", "Name", "State", "Version", "Created", "Functions", "Containers", "Web endpoints"],
            apps.Apps.Select(a => new[] { a.AppId, a.Name, a.State == "running" ? "ephemeral" : a.State, a.Version is { } v ? $"v{v}" : "", Output.Time(a.CreatedAt), Number(a.Functions), Number(a.Containers), string.Join(Environment.NewLine, a.WebUrls ?? []) }));
        return 0;
    }

    private static string Number(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static async Task<int> AppLogsAsync(string app, bool follow, LogFormat format, string? server, CancellationToken cancellationToken)
    {
        using var client = await ControlPlane.ConnectAsync(server, startLocal: false, cancellationToken).ConfigureAwait(false);
        var summary = await client.SendAsync<object, AppSummary>(HttpMethod.Get, Routes.App(app), null, null, Json.AppSummary, cancellationToken).ConfigureAwait(false);
        var logs = new LogFollower(client, summary.AppId, format: format);
        if (follow)
        {
            await logs.FollowAsync(cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await logs.DrainAsync(cancellationToken).ConfigureAwait(false);
        }
        return 0;
    }

    public static async Task<int> AppStopAsync(string app, string? server, CancellationToken cancellationToken)
    {
        using var client = await ControlPlane.ConnectAsync(server, startLocal: false, cancellationToken).ConfigureAwait(false);
        var summary = await client.SendAsync<object, AppSummary>(HttpMethod.Post, Routes.StopApp(app), null, null, Json.AppSummary, cancellationToken).ConfigureAwait(false);
        Output.Info($"Stopped {summary.AppId} ({summary.Name}).");
        return 0;
    }

    public static async Task<int> ContainerListAsync(string? app, bool json, string? server, CancellationToken cancellationToken)
    {
        using var client = await ControlPlane.ConnectAsync(server, startLocal: false, cancellationToken).ConfigureAwait(false);
        var list = await client.SendAsync<object, ContainerList>(HttpMethod.Get, Routes.Containers(app), null, null, Json.ContainerList, cancellationToken).ConfigureAwait(false);
        Output.Listing(list, Json.ContainerList, json, ["Container id", "App id", "Function", "Worker", "State", "Started", "Running inputs"],
            list.Containers.Select(c => new[] { c.ContainerId, c.AppId, c.Function, c.WorkerId, c.State, Output.Time(c.StartedAt), Number(c.RunningInputs) }));
        return 0;
    }

    public static async Task<int> ContainerLogsAsync(string id, bool follow, LogFormat format, string? server, CancellationToken cancellationToken)
    {
        using var client = await ControlPlane.ConnectAsync(server, startLocal: false, cancellationToken).ConfigureAwait(false);
        // An unknown id fails here with the control plane's message; the follower below tolerates outages instead.
        await client.SendAsync<object, LogBatch>(HttpMethod.Get, Routes.ContainerLogs(id, long.MaxValue), null, null, Json.LogBatch, cancellationToken).ConfigureAwait(false);
        var logs = new LogFollower(client, "", id, format);
        if (follow)
        {
            await logs.FollowAsync(cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await logs.DrainAsync(cancellationToken).ConfigureAwait(false);
        }
        return 0;
    }

    public static async Task<int> ContainerStopAsync(string id, string? server, CancellationToken cancellationToken)
    {
        using var client = await ControlPlane.ConnectAsync(server, startLocal: false, cancellationToken).ConfigureAwait(false);
        await client.SendAsync<object, object>(HttpMethod.Post, Routes.StopContainer(id), null, null, null, cancellationToken).ConfigureAwait(false);
        Output.Info($"Stopping {id}.");
        return 0;
    }

    public static async Task<int> ImageListAsync(bool json, string? server, CancellationToken cancellationToken)
    {
        using var client = await ControlPlane.ConnectAsync(server, startLocal: false, cancellationToken).ConfigureAwait(false);
        var list = await client.SendAsync<object, ImageList>(HttpMethod.Get, Routes.Images, null, null, Json.ImageList, cancellationToken).ConfigureAwait(false);
        Output.Listing(list, Json.ImageList, json, ["Image id", "Worker", "Steps", "Builds", "Last build", "Last used"],
            list.Images.Select(i => new[]
            {
                i.ImageId, i.WorkerId, i.Steps.Count == 0 ? "(base)" : string.Join(Environment.NewLine, i.Steps.Select(s => s.Length > 48 ? s[..47] + "…" : s)),
                Number(i.Builds), i.Builds == 0 ? "-" : $"{i.LastBuildSeconds:0.0} s", Output.Time(i.LastUsedAt),
            }));
        return 0;
    }
}
