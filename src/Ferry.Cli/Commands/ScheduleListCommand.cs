using System.Globalization;
using System.Text.Json;
using Ferry.Protocol;
using Spectre.Console;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry schedule list</c>: the deployed apps' schedules with their last and next runs.</summary>
internal static class ScheduleListCommand
{
    public static async Task<int> RunAsync(bool json, string? server, CancellationToken cancellationToken)
    {
        using var client = await ControlPlane.ConnectAsync(server, startLocal: false, cancellationToken).ConfigureAwait(false);
        var list = await client.SendAsync<object, ScheduleList>(HttpMethod.Get, Routes.Schedules, null, null,
            ProtocolJsonContext.Default.ScheduleList, cancellationToken).ConfigureAwait(false);
        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(list, ProtocolJsonContext.Default.ScheduleList));
            return 0;
        }
        var table = new Table().AddColumns("App", "Function", "Schedule", "Last run", "Next run", "Last call");
        foreach (var s in list.Schedules)
        {
            table.AddRow(Markup.Escape(s.AppName), Markup.Escape(s.Function), Markup.Escape(s.Schedule), Time(s.LastRun), Time(s.NextRun), s.LastCallId ?? "");
        }
        AnsiConsole.Write(table);
        return 0;
    }

    private static string Time(DateTimeOffset? time) =>
        time?.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "";
}
