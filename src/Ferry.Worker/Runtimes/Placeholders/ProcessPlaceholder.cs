using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Ferry.Protocol;

namespace Ferry.Worker.Runtimes.Placeholders;

/// <summary>
/// A placeholder that is a plain child process of the worker: <c>dotnet exec</c> of the placeholder program with a
/// kind's runtime settings and the worker's environment, as a container process would have. Its standard output says
/// when it is ready; its standard input carries the one specialisation line and is then closed, so the app reads end
/// of file there as in a freshly started container.
/// </summary>
internal sealed class ProcessPlaceholder : IPlaceholder
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _specialised;

    private ProcessPlaceholder(Process process)
    {
        Process = process;
    }

    public Process Process { get; }

    public Task Ready => _ready.Task;

    public bool HasExited => PlaceholderExit.HasExited(Process);

    /// <summary>Starts the placeholder program with the runtime settings in <paramref name="runtimeConfig"/>.</summary>
    public static ProcessPlaceholder Start(PlaceholderFiles files, string runtimeConfig)
    {
        var info = ProcessRuntime.DotnetStart(files.Directory, ["exec", "--runtimeconfig", runtimeConfig, files.Program]);
        // The runtime settings the worker gives every container, read only at start: a placeholder starts with them.
        foreach (var (name, value) in WorkerAgent.ContainerRuntimeSettings)
        {
            info.Environment[name] = value;
        }
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var placeholder = new ProcessPlaceholder(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (!placeholder._specialised && e.Data == PlaceholderSignals.Ready)
            {
                placeholder._ready.TrySetResult();
            }
        };
        process.Exited += (_, _) => placeholder._ready.TrySetException(new InvalidOperationException("The placeholder exited before it was ready."));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return placeholder;
    }

    /// <summary>
    /// Hands the placeholder its app: the complete environment and working directory a fresh process would have had,
    /// and the program to run. Output from then on is the container's.
    /// </summary>
    public void Specialise(IReadOnlyDictionary<string, string> environment, string workingDirectory, string assembly)
    {
        _specialised = true;
        var line = JsonSerializer.Serialize(new PlaceholderSpecialization(environment, workingDirectory, assembly), ProtocolJsonContext.Default.PlaceholderSpecialization);
        Process.StandardInput.Write(line + "\n");
        Process.StandardInput.Close();
    }

    public long ResidentBytes()
    {
        try
        {
            var line = File.ReadLines($"/proc/{Process.Id}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>Retires an idle placeholder: closing its input ends it; it is killed if it has not ended soon after.</summary>
    public async ValueTask DisposeAsync()
    {
        await PlaceholderExit.RetireAsync(Process, () =>
        {
            Process.Kill(entireProcessTree: true);
            return Task.CompletedTask;
        }).ConfigureAwait(false);
        Process.Dispose();
    }
}
