using Spectre.Console;

namespace Ferry.Cli;

/// <summary>
/// The CLI's own messages go to stderr, so a program's stdout stays clean for pipes; colour only on a terminal.
/// </summary>
internal static class Output
{
    public static IAnsiConsole Err { get; } = CreateErr();

    private static IAnsiConsole CreateErr()
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Console.Error),
            Ansi = Console.IsErrorRedirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = Console.IsErrorRedirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
            Interactive = Console.IsErrorRedirected ? InteractionSupport.No : InteractionSupport.Detect,
        });
        if (Console.IsErrorRedirected)
        {
            // Without a terminal there is no width to fit: a line stays one line, so ids and messages stay whole in logs.
            console.Profile.Width = 100_000;
        }
        return console;
    }

    public static void Step(string message, TimeSpan elapsed) =>
        Err.MarkupLine($"[green]✓[/] {Markup.Escape(message)} [grey]({Format(elapsed)})[/]");

    public static void Info(string message) => Err.MarkupLine($"[grey]{Markup.Escape(message)}[/]");

    public static void Error(string message) => Err.MarkupLine($"[red]Error:[/] {Markup.Escape(message)}");

    public static string Format(TimeSpan elapsed) =>
        elapsed.TotalSeconds >= 1 ? $"{elapsed.TotalSeconds:0.0} s" : $"{elapsed.TotalMilliseconds:0} ms";

    /// <summary>
    /// Prints a listing on stdout: with <paramref name="asJson"/> the records as the API returns them; on a terminal a
    /// table; piped, plain columns aligned with spaces, one row per line, never wrapped, so ids stay whole for scripts.
    /// </summary>
    public static void Listing<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> json, bool asJson, string[] headers, IEnumerable<string[]> rows)
    {
        if (asJson)
        {
            Console.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(value, json));
            return;
        }
        Table(headers, rows);
    }

    /// <summary>Rows on stdout: a table on a terminal; piped, plain columns aligned with spaces, never wrapped.</summary>
    public static void Table(string[] headers, IEnumerable<string[]> rows)
    {
        var all = rows.ToList();
        if (!Console.IsOutputRedirected)
        {
            var table = new Table().AddColumns(headers);
            foreach (var row in all)
            {
                table.AddRow(row.Select(Markup.Escape).ToArray());
            }
            AnsiConsole.Write(table);
            return;
        }
        var lines = all.Select(r => r.Select(c => c.ReplaceLineEndings(" ")).ToArray()).Prepend(headers).ToList();
        var widths = headers.Select((_, i) => lines.Max(r => r[i].Length)).ToArray();
        foreach (var line in lines)
        {
            Console.Out.WriteLine(string.Join("  ", line.Select((c, i) => i == line.Length - 1 ? c : c.PadRight(widths[i]))).TrimEnd());
        }
    }

    /// <summary>A time as listings show it: local, to the second.</summary>
    public static string Time(DateTimeOffset time) => time.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Runs a step behind a spinner on a terminal, or with a plain line elsewhere.</summary>
    public static async Task<T> StatusAsync<T>(string message, Func<Task<T>> action)
    {
        if (Console.IsErrorRedirected)
        {
            return await action().ConfigureAwait(false);
        }
        return await Err.Status().Spinner(Spinner.Known.Dots).StartAsync(Markup.Escape(message), _ => action()).ConfigureAwait(false);
    }
}

/// <summary>A failure the user can fix; shown as one line, without a stack trace.</summary>
internal sealed class CliException(string message, int exitCode = 1) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>How every command ends on an error: the message as one line and an exit code, never a stack trace.</summary>
internal static class CommandErrors
{
    /// <summary>Runs a command's action; a <see cref="CliException"/> or a server's refusal becomes one line, an interrupt 130.</summary>
    public static async Task<int> GuardAsync(Func<Task<int>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (CliException e)
        {
            Output.Error(e.Message);
            return e.ExitCode;
        }
        catch (FerryException e)
        {
            Output.Error(e.Message);
            return 1;
        }
        catch (OperationCanceledException)
        {
            return 130;
        }
    }
}
