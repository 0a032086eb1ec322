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

    /// <summary>None: the program runs on the host, beside the worker.</summary>
    public RuntimeCapabilities Capabilities => RuntimeCapabilities.None;

    /// <summary>The server's own URL: the program runs on the host, beside the worker.</summary>
    public Task<Uri> GetContainerServerUrlAsync(Uri serverUrl, CancellationToken cancellationToken) => Task.FromResult(serverUrl);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

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

    private sealed partial class ProcessHandle(string containerId, Process process, ContainerOutputHandler output)
        : ProcessContainerHandle(containerId, process, output)
    {
        protected override Task<ContainerExit> DescribeExitAsync(int exitCode, string? stderrTail) => Task.FromResult(StopRequested
            ? new ContainerExit(exitCode, "stopped", null)
            : new ContainerExit(exitCode, ErrorKinds.Crash, DescribeExit(exitCode) + (stderrTail is null ? "" : Environment.NewLine + stderrTail)));

        private static string DescribeExit(int code) => code switch
        {
            > 128 and < 160 => $"killed by signal {code - 128}",
            _ => $"exit code {code}",
        };

        protected override Task SignalAsync(bool kill)
        {
            try
            {
                if (kill)
                {
                    Process.Kill(entireProcessTree: true);
                }
                else
                {
                    _ = Kill(Process.Id, Sigterm);
                }
            }
            catch (InvalidOperationException)
            {
                // The process has already exited.
            }
            return Task.CompletedTask;
        }

        private const int Sigterm = 15;

        [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
        private static partial int Kill(int pid, int signal);
    }
}
