using Ferry.Client;
using Ferry.Protocol;
using Spectre.Console;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry app ...</c> and <c>ferry container ...</c>.</summary>
internal static class InspectCommands
{
    private static readonly ProtocolJsonContext Json = ProtocolJsonContext.Default;

    public static async Task<int> AppListAsync(string? server, CancellationToken cancellationToken)
    {
        using var client = await ControlPlane.ConnectAsync(server, startLocal: false, cancellationToken).ConfigureAwait(false);
        var apps = await client.SendAsync<object, AppList>(HttpMethod.Get, Routes.Apps, null, null, Json.AppList, cancellationToken).ConfigureAwait(false);
        var table = new Table().AddColumns("App id", "Name", "State", "Created", "Functions", "Containers");
        foreach (var app in apps.Apps)
        {
            table.AddRow(app.AppId, Markup.Escape(app.Name), app.State, app.CreatedAt.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture), app.Functions.ToString(System.Globalization.CultureInfo.InvariantCulture), app.Containers.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        AnsiConsole.Write(table);
        return 0;
    }

    public static async Task<int> AppLogsAsync(string app, bool follow, string? server, CancellationToken cancellationToken)
    {
        using var client = await ControlPlane.ConnectAsync(server, startLocal: false, cancellationToken).ConfigureAwait(false);
        var summary = await client.SendAsync<object, AppSummary>(HttpMethod.Get, Routes.App(app), null, null, Json.AppSummary, cancellationToken).ConfigureAwait(false);
        var logs = new LogFollower(client, summary.AppId);
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

    public static async Task<int> ContainerListAsync(string? app, string? server, CancellationToken cancellationToken)
    {
        using var client = await ControlPlane.ConnectAsync(server, startLocal: false, cancellationToken).ConfigureAwait(false);
        var list = await client.SendAsync<object, ContainerList>(HttpMethod.Get, Routes.Containers(app), null, null, Json.ContainerList, cancellationToken).ConfigureAwait(false);
        var table = new Table().AddColumns("Container id", "App id", "Function", "Worker", "State", "Started", "Running inputs");
        foreach (var c in list.Containers)
        {
            table.AddRow(c.ContainerId, c.AppId, Markup.Escape(c.Function), c.WorkerId, c.State, c.StartedAt.ToLocalTime().ToString("HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture), c.RunningInputs.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        AnsiConsole.Write(table);
        return 0;
    }

    public static async Task<int> ContainerLogsAsync(string id, bool follow, string? server, CancellationToken cancellationToken)
    {
        using var client = await ControlPlane.ConnectAsync(server, startLocal: false, cancellationToken).ConfigureAwait(false);
        // An unknown id fails here with the control plane's message; the follower below tolerates outages instead.
        await client.SendAsync<object, LogBatch>(HttpMethod.Get, Routes.ContainerLogs(id, long.MaxValue), null, null, Json.LogBatch, cancellationToken).ConfigureAwait(false);
        var logs = new LogFollower(client, "", id);
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

    public static async Task<int> ImageListAsync(string? server, CancellationToken cancellationToken)
    {
        using var client = await ControlPlane.ConnectAsync(server, startLocal: false, cancellationToken).ConfigureAwait(false);
        var list = await client.SendAsync<object, ImageList>(HttpMethod.Get, Routes.Images, null, null, Json.ImageList, cancellationToken).ConfigureAwait(false);
        var table = new Table().AddColumns("Image id", "Worker", "Steps", "Builds", "Last build", "Last used");
        foreach (var i in list.Images)
        {
            table.AddRow(i.ImageId, i.WorkerId, Markup.Escape(i.Steps.Count == 0 ? "(base)" : string.Join(Environment.NewLine, i.Steps.Select(s => s.Length > 48 ? s[..47] + "…" : s))),
                i.Builds.ToString(System.Globalization.CultureInfo.InvariantCulture), i.Builds == 0 ? "-" : $"{i.LastBuildSeconds:0.0} s",
                i.LastUsedAt.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture));
        }
        AnsiConsole.Write(table);
        return 0;
    }
}
