using System.Globalization;
using System.Text.Json;
using Ferry.Protocol;
using Spectre.Console;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry app history APP</c>: a deployed app's versions, oldest first.</summary>
internal static class AppHistoryCommand
{
    public static async Task<int> RunAsync(string app, bool json, string? server, CancellationToken cancellationToken)
    {
        using var client = await ControlPlane.ConnectAsync(server, startLocal: false, cancellationToken).ConfigureAwait(false);
        var history = await client.SendAsync<object, AppHistory>(HttpMethod.Get, Routes.AppHistory(app), null, null,
            ProtocolJsonContext.Default.AppHistory, cancellationToken).ConfigureAwait(false);
        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(history, ProtocolJsonContext.Default.AppHistory));
            return 0;
        }
        var table = new Table().AddColumns("Version", "App id", "State", "Deployed", "Tag", "Build", "From");
        foreach (var v in history.Versions)
        {
            table.AddRow(
                $"v{v.Version}{(v.RollbackOf is { } of ? $" (rollback to v{of})" : "")}", v.AppId, v.State,
                v.CreatedAt.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                Markup.Escape(v.Tag ?? ""), v.BuildId.Length > 12 ? v.BuildId[..12] : v.BuildId, Markup.Escape(v.Source ?? ""));
        }
        AnsiConsole.Write(table);
        return 0;
    }
}
