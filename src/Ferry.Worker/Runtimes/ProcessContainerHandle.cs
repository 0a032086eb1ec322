using System.Diagnostics;

namespace Ferry.Worker.Runtimes;

/// <summary>
/// A container whose life is one host process (the program itself, or the runc that runs it): its output is
/// captured line by line, its exit is watched, and stopping it is SIGTERM, a grace period, then SIGKILL.
/// Runtimes say how to signal it and what its exit means.
/// </summary>
internal abstract class ProcessContainerHandle : IContainerHandle
{
    private readonly Process _process;
    private readonly OutputCapture _capture;
    private readonly TaskCompletionSource<ContainerExit> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _stopRequested;

    protected ProcessContainerHandle(string containerId, Process process, ContainerOutputHandler output)
    {
        ContainerId = containerId;
        _process = process;
        _capture = new OutputCapture(process, containerId, output);
    }

    public string ContainerId { get; }

    public Task<ContainerExit> Exited => _exited.Task;

    protected Process Process => _process;

    /// <summary>True once someone asked the container to stop, so its exit is expected.</summary>
    protected bool StopRequested => _stopRequested;

    /// <summary>Starts watching for the exit; call once the process has started.</summary>
    public void Watch() => _ = WatchAsync();

    private async Task WatchAsync()
    {
        // WaitForExitAsync also waits for the redirected streams to reach end of file, so no output is lost.
        await _process.WaitForExitAsync().ConfigureAwait(false);
        var exit = await DescribeExitAsync(_process.ExitCode, _capture.StderrTail()).ConfigureAwait(false);
        _process.Dispose();
        _exited.TrySetResult(exit);
    }

    /// <summary>Why the container ended, from its exit code and the end of its stderr; also releases what it held.</summary>
    protected abstract Task<ContainerExit> DescribeExitAsync(int exitCode, string? stderrTail);

    /// <summary>Sends SIGTERM, or SIGKILL when <paramref name="kill"/>; a container already gone is not an error.</summary>
    protected abstract Task SignalAsync(bool kill);

    public async Task StopAsync(TimeSpan grace)
    {
        _stopRequested = true;
        if (Exited.IsCompleted)
        {
            return;
        }
        if (grace > TimeSpan.Zero)
        {
            await SignalAsync(kill: false).ConfigureAwait(false);
            try
            {
                await Exited.WaitAsync(grace).ConfigureAwait(false);
                return;
            }
            catch (TimeoutException)
            {
            }
        }
        await SignalAsync(kill: true).ConfigureAwait(false);
        await Exited.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
}
