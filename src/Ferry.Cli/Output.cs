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

    // The common lines are written as text with at most a colour code: the console above costs a cold CLI about
    // 0.2 s to set up, which a `ferry run` would otherwise pay before its first line. While a bar is drawn, lines go
    // through that console, which keeps them above the bar.
    private static readonly bool Colour = !Console.IsErrorRedirected && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"))
        && !string.Equals(Environment.GetEnvironmentVariable("TERM"), "dumb", StringComparison.Ordinal);

    private static readonly Lock WriteGate = new();

    private static void Line(string text, string markup)
    {
        if (Progress.MapProgress.Drawing)
        {
            Err.MarkupLine(markup);
            return;
        }
        lock (WriteGate)
        {
            Console.Error.WriteLine(text);
        }
    }

    private static string Paint(string code, string text) => Colour ? $"\u001b[{code}m{text}\u001b[0m" : text;

    public static void Step(string message, TimeSpan elapsed) =>
        Line($"{Paint("32", "✓")} {message} {Paint("38;5;8", $"({Format(elapsed)})")}", $"[green]✓[/] {Markup.Escape(message)} [grey]({Format(elapsed)})[/]");

    public static void Info(string message) => Line(Paint("38;5;8", message), $"[grey]{Markup.Escape(message)}[/]");

    public static void Error(string message) => Line($"{Paint("31", "Error:")} {message}", $"[red]Error:[/] {Markup.Escape(message)}");

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

    /// <summary>How long a step runs before a spinner shows: a quick one finishes without drawing anything.</summary>
    private static readonly TimeSpan SpinnerDelay = TimeSpan.FromMilliseconds(250);

    /// <summary>Runs a step behind a spinner on a terminal (once it has taken a moment), or with no output elsewhere.</summary>
    public static async Task<T> StatusAsync<T>(string message, Func<Task<T>> action)
    {
        var step = action();
        if (Console.IsErrorRedirected || step.IsCompleted)
        {
            return await step.ConfigureAwait(false);
        }
        await Task.WhenAny(step, Task.Delay(SpinnerDelay)).ConfigureAwait(false);
        if (step.IsCompleted)
        {
            return await step.ConfigureAwait(false);
        }
        return await Err.Status().Spinner(Spinner.Known.Dots).StartAsync(Markup.Escape(message), _ => step).ConfigureAwait(false);
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
