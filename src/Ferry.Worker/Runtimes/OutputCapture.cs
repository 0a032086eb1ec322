using System.Diagnostics;
using Ferry.Protocol;

namespace Ferry.Worker.Runtimes;

/// <summary>
/// Forwards a container process's stdout and stderr line by line, and keeps the last lines of stderr to explain a
/// crash.
/// </summary>
internal sealed class OutputCapture
{
    private const int TailLines = 20;
    private readonly Queue<string> _stderr = new();

    public OutputCapture(Process process, string containerId, ContainerOutputHandler output)
    {
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                output(containerId, LogStreams.Stdout, e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            lock (_stderr)
            {
                _stderr.Enqueue(e.Data);
                if (_stderr.Count > TailLines)
                {
                    _stderr.Dequeue();
                }
            }
            output(containerId, LogStreams.Stderr, e.Data);
        };
    }

    /// <summary>The last lines the process wrote to stderr, or null if none.</summary>
    public string? StderrTail()
    {
        lock (_stderr)
        {
            return _stderr.Count == 0 ? null : string.Join(Environment.NewLine, _stderr);
        }
    }
}
