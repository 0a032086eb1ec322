using System.Diagnostics;

namespace Ferry.Cli;

/// <summary>
/// Where a <c>ferry run</c> spends its time, printed on stderr at the end when <c>FERRY_TIMINGS=1</c>: each part's
/// time since the process started, one <c>timing NAME MS</c> line each, for people and for the bench.
/// </summary>
internal static class Timings
{
    /// <summary>The variable that turns the report on.</summary>
    public const string Variable = "FERRY_TIMINGS";

    private static readonly bool Enabled = Environment.GetEnvironmentVariable(Variable) is "1" or "true";
    private static readonly List<(string Name, double Ms)> Marks = [];
    private static readonly DateTime Started = Process.GetCurrentProcess().StartTime.ToUniversalTime();

    private static DateTime _mainEntered;

    /// <summary>Records when the CLI's own code began, after the runtime started the process.</summary>
    public static void MainEntered() => _mainEntered = DateTime.UtcNow;

    /// <summary>Records that <paramref name="name"/> ended now.</summary>
    public static void Mark(string name)
    {
        if (!Enabled)
        {
            return;
        }
        lock (Marks)
        {
            if (Marks.Count == 0)
            {
                Marks.Add(("cli start", (_mainEntered - Started).TotalMilliseconds));
            }
            Marks.Add((name, (DateTime.UtcNow - Started).TotalMilliseconds));
        }
    }

    public static void Print()
    {
        if (!Enabled)
        {
            return;
        }
        lock (Marks)
        {
            foreach (var (name, ms) in Marks)
            {
                Console.Error.WriteLine(FormattableString.Invariant($"timing {name.Replace(' ', '-')} {ms:0}"));
            }
        }
    }
}
