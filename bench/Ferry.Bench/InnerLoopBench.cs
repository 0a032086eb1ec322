using System.Diagnostics;
using System.Globalization;

namespace Ferry.Bench;

/// <summary>
/// The inner loop as a user lives it, with the <c>ferry</c> command as a process against the harness's warm server:
/// <c>ferry run</c> of an app with a function, a class and a small map, unchanged and after a one-line edit, split
/// into its parts (from the CLI's <c>FERRY_TIMINGS</c> report and the times its lines arrive), beside
/// <c>dotnet run app.cs</c> of the same file, unchanged and edited, in the same run.
/// </summary>
internal static class InnerLoopBench
{
    /// <summary>One <c>ferry run</c>: each part's end, in ms since the command started.</summary>
    public sealed record Run(IReadOnlyDictionary<string, double> Parts, double FirstContainerReadyMs, double FirstResultMs, double ExitMs);

    public sealed record Result(Run Unchanged, Run Edited, double DotnetRunUnchangedSeconds, double DotnetRunEditedSeconds);

    private const int Samples = 3;

    public static async Task<Result> RunAsync(Harness harness)
    {
        var work = Directory.CreateTempSubdirectory("ferry-bench-inner-").FullName;
        var name = "inner-" + Guid.NewGuid().ToString("N")[..6];
        var file = Path.Combine(work, "app.cs");
        var environment = new Dictionary<string, string>
        {
            ["FERRY_SERVER_URL"] = harness.Server.Url.ToString(),
            ["FERRY_TOKEN"] = harness.AdminToken,
            ["FERRY_HOME"] = Path.Combine(work, "home"),
            ["FERRY_TIMINGS"] = "1",
        };
        try
        {
            // The first run builds and warms the server's build cache and the function's measurements.
            await File.WriteAllTextAsync(file, Source(name, 0));
            await FerryRunAsync(file, work, environment);
            var unchanged = new List<Run>();
            var edited = new List<Run>();
            for (var i = 1; i <= Samples; i++)
            {
                unchanged.Add(await FerryRunAsync(file, work, environment));
                await File.WriteAllTextAsync(file, Source(name, i));
                edited.Add(await FerryRunAsync(file, work, environment));
            }

            var plain = Path.Combine(work, "plain");
            Directory.CreateDirectory(plain);
            var plainFile = Path.Combine(plain, "app.cs");
            var project = Path.Combine(Harness.RepositoryRoot, "src", "Ferry", "Ferry.csproj");
            await File.WriteAllTextAsync(plainFile, $"#:project {project}\n" + Source(name, 0));
            await DotnetRunAsync(plainFile, plain);
            var plainUnchanged = new List<double>();
            var plainEdited = new List<double>();
            for (var i = 1; i <= Samples; i++)
            {
                plainUnchanged.Add(await DotnetRunAsync(plainFile, plain));
                await File.WriteAllTextAsync(plainFile, $"#:project {project}\n" + Source(name, i));
                plainEdited.Add(await DotnetRunAsync(plainFile, plain));
            }
            return new Result(Median(unchanged), Median(edited), Median(plainUnchanged), Median(plainEdited));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>The app: a function, a class and a small map; <paramref name="edit"/> changes one line.</summary>
    private static string Source(string name, int edit) => $$"""
        using Ferry;

        var app = new App("{{name}}");
        var square = app.Function<int, int>(Square);
        var greeter = app.Cls<Greeter>();
        app.LocalEntrypoint(async () =>
        {
            Console.WriteLine($"first {await square.RemoteAsync(7)}");
            Console.WriteLine(await greeter.Method<string, string>(g => g.Greet).RemoteAsync("inner loop"));
            var sum = 0;
            await foreach (var x in square.MapAsync(Enumerable.Range(1, 5)))
            {
                sum += x;
            }
            Console.WriteLine($"map {sum}");
        });
        return await app.RunAsync(args);

        static int Square(int x) => x * x + {{edit}} - {{edit}};

        public sealed class Greeter
        {
            [Method]
            public string Greet(string who) => $"hello, {who}";
        }
        """;

    private static async Task<Run> FerryRunAsync(string file, string directory, IReadOnlyDictionary<string, string> environment)
    {
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Ferry.Cli.dll"));
        info.ArgumentList.Add("run");
        info.ArgumentList.Add(file);
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }
        var clock = Stopwatch.StartNew();
        var firstResult = double.NaN;
        var firstReady = double.NaN;
        var parts = new Dictionary<string, double>();
        var lines = new List<string>();
        using var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) =>
        {
            lock (lines)
            {
                if (e.Data is { } line)
                {
                    lines.Add(line);
                    if (line.StartsWith("first ", StringComparison.Ordinal) && double.IsNaN(firstResult))
                    {
                        firstResult = clock.Elapsed.TotalMilliseconds;
                    }
                }
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            lock (lines)
            {
                if (e.Data is not { } line)
                {
                    return;
                }
                lines.Add(line);
                if (line.Contains("Container ready in", StringComparison.Ordinal) && double.IsNaN(firstReady))
                {
                    firstReady = clock.Elapsed.TotalMilliseconds;
                }
                if (line.Split(' ') is ["timing", var part, var ms])
                {
                    parts[part] = double.Parse(ms, CultureInfo.InvariantCulture);
                }
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await process.WaitForExitAsync();
        process.WaitForExit();
        var exit = clock.Elapsed.TotalMilliseconds;
        if (process.ExitCode != 0 || double.IsNaN(firstResult))
        {
            throw new InvalidOperationException($"ferry run {file} failed ({process.ExitCode}):\n{string.Join('\n', lines)}");
        }
        // A warm pool has its container already: the first result is then the first sign of a ready container.
        return new Run(parts, double.IsNaN(firstReady) ? firstResult : Math.Min(firstReady, firstResult), firstResult, exit);
    }

    /// <summary>Seconds for <c>dotnet run app.cs</c> to build (or find the build current) and run the file to its end.</summary>
    private static async Task<double> DotnetRunAsync(string file, string directory)
    {
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add("run");
        info.ArgumentList.Add(file);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var seconds = clock.Elapsed.TotalSeconds;
        // Outside `ferry run`, a Ferry app says how to run it and exits 2: the build and the start are what is timed.
        var printed = await stdout + await stderr;
        if (!printed.Contains("is a Ferry app", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"dotnet run {file} failed ({process.ExitCode}):\n{printed}");
        }
        return seconds;
    }

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    private static Run Median(List<Run> runs)
    {
        var ordered = runs.OrderBy(r => r.FirstResultMs).ToList();
        return ordered[ordered.Count / 2];
    }
}
