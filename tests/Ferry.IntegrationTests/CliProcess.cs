using System.Diagnostics;
using System.Text;

namespace Ferry.IntegrationTests;

/// <summary>
/// The <c>ferry</c> command as a separate process, from this test's build of the CLI (or an installed one), with a
/// FERRY_HOME and plain process containers of the test's choosing. Output is collected as it comes, so a test can wait
/// for a line before it acts.
/// </summary>
internal sealed class CliProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly List<(Func<string, bool> Match, TaskCompletionSource Seen)> _waits = [];

    private CliProcess(Process process) => _process = process;

    public int Pid => _process.Id;

    /// <summary>Everything printed so far, stdout and stderr interleaved as they arrived.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts <paramref name="arguments"/> in <paramref name="directory"/>, with <paramref name="environment"/> added.</summary>
    public static CliProcess Start(IReadOnlyList<string> arguments, string directory, IReadOnlyDictionary<string, string>? environment = null, string? command = null)
    {
        var info = new ProcessStartInfo(command ?? "dotnet")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (command is null)
        {
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Ferry.Cli.dll"));
        }
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["FERRY_RUNTIME"] = "process";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }
        var cli = new CliProcess(new Process { StartInfo = info });
        cli._process.OutputDataReceived += (_, e) => cli.Append(e.Data);
        cli._process.ErrorDataReceived += (_, e) => cli.Append(e.Data);
        cli._process.Start();
        cli._process.BeginOutputReadLine();
        cli._process.BeginErrorReadLine();
        return cli;
    }

    /// <summary>Runs the command to its end and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(IReadOnlyList<string> arguments, string directory, TimeSpan limit, IReadOnlyDictionary<string, string>? environment = null, string? command = null)
    {
        using var cli = Start(arguments, directory, environment, command);
        var exitCode = await cli.WaitForExitAsync(limit);
        return (exitCode, $"{command ?? "ferry"} {string.Join(' ', arguments)}:\n{cli.Output}");
    }

    /// <summary>Completes when a line that <paramref name="match"/> accepts has been printed.</summary>
    public Task WaitForLineAsync(Func<string, bool> match, TimeSpan limit)
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_output)
        {
            if (_output.ToString().Split('\n').Any(l => match(l.TrimEnd('\r'))))
            {
                return Task.CompletedTask;
            }
            _waits.Add((match, seen));
        }
        return seen.Task.WaitAsync(limit);
    }

    /// <summary>Sends a signal to the process, as a terminal's Ctrl-C (SIGINT) or a service manager (SIGTERM) would.</summary>
    public async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }

    public async Task<int> WaitForExitAsync(TimeSpan limit)
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"The command did not end within {limit}. It printed:\n{Output}");
        }
        // The asynchronous readers deliver the last lines after the exit is seen; this waits for them.
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.Append(line).Append('\n');
            foreach (var wait in _waits.Where(w => w.Match(line)).ToList())
            {
                _waits.Remove(wait);
                wait.Seen.TrySetResult();
            }
        }
    }
}
