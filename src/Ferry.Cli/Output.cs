using Spectre.Console;

namespace Ferry.Cli;

/// <summary>
/// The CLI's own messages go to stderr, so a program's stdout stays clean for pipes; colour only on a terminal.
/// </summary>
internal static class Output
{
    public static IAnsiConsole Err { get; } = AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(Console.Error),
        Ansi = Console.IsErrorRedirected ? AnsiSupport.No : AnsiSupport.Detect,
        ColorSystem = Console.IsErrorRedirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
        Interactive = Console.IsErrorRedirected ? InteractionSupport.No : InteractionSupport.Detect,
    });

    public static void Step(string message, TimeSpan elapsed) =>
        Err.MarkupLine($"[green]✓[/] {Markup.Escape(message)} [grey]({Format(elapsed)})[/]");

    public static void Info(string message) => Err.MarkupLine($"[grey]{Markup.Escape(message)}[/]");

    public static void Error(string message) => Err.MarkupLine($"[red]Error:[/] {Markup.Escape(message)}");

    public static string Format(TimeSpan elapsed) =>
        elapsed.TotalSeconds >= 1 ? $"{elapsed.TotalSeconds:0.0} s" : $"{elapsed.TotalMilliseconds:0} ms";

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
