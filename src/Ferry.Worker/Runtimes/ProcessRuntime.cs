using System.Diagnostics;
using System.Runtime.InteropServices;
using Ferry.Protocol;

namespace Ferry.Worker.Runtimes;

/// <summary>
/// Runs each container as a child process of the worker, with no isolation: the user's program runs on the host with
/// the host's .NET. Images, resource limits and GPU masking are not applied.
/// </summary>
public sealed partial class ProcessRuntime : IContainerRuntime
{
    public string Name => "process";

    public Task<IContainerHandle> StartAsync(ContainerSpec spec, ContainerOutputHandler output, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = spec.BuildDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(spec.BuildDir, spec.EntryAssembly));
        foreach (var (key, value) in spec.Environment)
        {
            info.Environment[key] = value;
        }
        if (spec.GpuIndices.Count > 0)
        {
            var devices = string.Join(',', spec.GpuIndices);
            info.Environment["CUDA_VISIBLE_DEVICES"] = devices;
            info.Environment["NVIDIA_VISIBLE_DEVICES"] = devices;
        }
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var handle = new ProcessHandle(spec.ContainerId, process, output);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        handle.Watch();
        return Task.FromResult<IContainerHandle>(handle);
    }

    private sealed partial class ProcessHandle : IContainerHandle
    {
        private readonly Process _process;
        private readonly OutputCapture _capture;
        private readonly TaskCompletionSource<ContainerExit> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile bool _stopRequested;

        public ProcessHandle(string containerId, Process process, ContainerOutputHandler output)
        {
            ContainerId = containerId;
            _process = process;
            _capture = new OutputCapture(process, containerId, output);
        }

        public string ContainerId { get; }

        public Task<ContainerExit> Exited => _exited.Task;

        /// <summary>Starts watching for the exit; call once the process has started.</summary>
        public void Watch() => _ = WatchAsync();

        private async Task WatchAsync()
        {
            // WaitForExitAsync also waits for the redirected streams to reach end of file, so no output is lost.
            await _process.WaitForExitAsync().ConfigureAwait(false);
            var code = _process.ExitCode;
            var tail = _capture.StderrTail();
            var reason = _stopRequested ? "stopped" : ErrorKinds.Crash;
            var detail = _stopRequested ? null : DescribeExit(code) + (tail is null ? "" : Environment.NewLine + tail);
            _process.Dispose();
            _exited.TrySetResult(new ContainerExit(code, reason, detail));
        }

        private static string DescribeExit(int code) => code switch
        {
            > 128 and < 160 => $"killed by signal {code - 128}",
            _ => $"exit code {code}",
        };

        public async Task StopAsync(TimeSpan grace)
        {
            _stopRequested = true;
            if (Exited.IsCompleted)
            {
                return;
            }
            try
            {
                if (grace > TimeSpan.Zero)
                {
                    _ = Kill(_process.Id, Sigterm);
                    await Exited.WaitAsync(grace).ConfigureAwait(false);
                    return;
                }
            }
            catch (TimeoutException)
            {
            }
            catch (InvalidOperationException)
            {
                return;
            }
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }
            await Exited.ConfigureAwait(false);
        }

        public async ValueTask DisposeAsync() => await StopAsync(TimeSpan.Zero).ConfigureAwait(false);

        private const int Sigterm = 15;

        [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
        private static partial int Kill(int pid, int signal);
    }
}
