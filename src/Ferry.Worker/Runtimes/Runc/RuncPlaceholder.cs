using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Ferry.Protocol;
using Ferry.Worker.Runtimes.Placeholders;

namespace Ferry.Worker.Runtimes.Runc;

/// <summary>
/// A placeholder that is a runc container: <c>runc run</c> in the foreground of the placeholder program, in a bundle
/// of its own on the image it can become, with its network attached and an empty directory of its own mounted at
/// <c>/app</c>. The container's standard output says when it is ready; its standard input (runc's, passed through)
/// carries the one specialisation line and is then closed. Until it is specialised, it cleans up after itself when it
/// ends; after that, the container's handle does.
/// </summary>
internal sealed class RuncPlaceholder : IPlaceholder
{
    private readonly TaskCompletionSource _readyLine = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lazy<Task> _cleanUp;
    private readonly string _state;
    private volatile bool _specialised;

    private RuncPlaceholder(string id, string bundle, NetworkAttachment? network, Process process, string state, Func<Task> cleanUp)
    {
        Id = id;
        Bundle = bundle;
        Network = network;
        Process = process;
        _state = state;
        _cleanUp = new Lazy<Task>(cleanUp);
        Ready = ReadyAsync();
    }

    /// <summary>The runc container id, which names its bundle, runc state and cgroups.</summary>
    public string Id { get; }

    public string Bundle { get; }

    /// <summary>The host directory mounted at <c>/app</c>, where specialising puts the app's build.</summary>
    public string AppDir => Path.Combine(Bundle, "app");

    public NetworkAttachment? Network { get; }

    /// <summary>The foreground <c>runc run</c>.</summary>
    public Process Process { get; }

    /// <summary>The container's first process, as the host sees it; set once ready.</summary>
    public int Pid { get; private set; }

    public Task Ready { get; }

    public bool HasExited => PlaceholderExit.HasExited(Process);

    /// <summary>Starts <c>runc run</c> of the bundle <paramref name="bundle"/> written for a placeholder.</summary>
    public static RuncPlaceholder Start(string id, string bundle, NetworkAttachment? network, string state, Func<Task> cleanUp)
    {
        var info = new ProcessStartInfo("runc")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--root", state, "run", "--keep", "--bundle", bundle, id })
        {
            info.ArgumentList.Add(arg);
        }
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var placeholder = new RuncPlaceholder(id, bundle, network, process, state, cleanUp);
        process.OutputDataReceived += (_, e) =>
        {
            if (!placeholder._specialised && e.Data == PlaceholderSignals.Ready)
            {
                placeholder._readyLine.TrySetResult();
            }
        };
        process.Exited += (_, _) =>
        {
            placeholder._readyLine.TrySetException(new InvalidOperationException("The placeholder container exited before it was ready."));
            if (!placeholder._specialised)
            {
                _ = placeholder._cleanUp.Value;
            }
        };
        try
        {
            process.Start();
        }
        catch
        {
            _ = placeholder._cleanUp.Value;
            throw;
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return placeholder;
    }

    private async Task ReadyAsync()
    {
        await _readyLine.Task.ConfigureAwait(false);
        // The host's pid of the container's process, for entering its namespaces when it is specialised.
        var (code, output) = await Processes.RunAsync("runc", ["--root", _state, "state", Id], CancellationToken.None).ConfigureAwait(false);
        if (code != 0)
        {
            throw new InvalidOperationException($"runc state of the placeholder failed: {output.Trim()}");
        }
        using var state = JsonDocument.Parse(output);
        Pid = state.RootElement.GetProperty("pid").GetInt32();
    }

    /// <summary>Deletes the container, its network, its root and its bundle, once however often it is called.</summary>
    public Task CleanUpAsync() => _cleanUp.Value;

    /// <summary>From now on the container belongs to its handle, which cleans up after it.</summary>
    public void MarkSpecialised() => _specialised = true;

    /// <summary>Hands the container its app; its output is the container's from here on.</summary>
    public void Specialise(IReadOnlyDictionary<string, string> environment, string workingDirectory, string assembly)
    {
        var line = JsonSerializer.Serialize(new PlaceholderSpecialization(environment, workingDirectory, assembly), ProtocolJsonContext.Default.PlaceholderSpecialization);
        Process.StandardInput.Write(line + "\n");
        Process.StandardInput.Close();
    }

    /// <summary>The memory the container's processes hold (resident, from its memory cgroup).</summary>
    public long ResidentBytes()
    {
        try
        {
            var line = File.ReadLines($"/sys/fs/cgroup/memory/{OciSpec.CgroupParent}/{Id}/memory.stat")
                .FirstOrDefault(l => l.StartsWith("total_rss ", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line["total_rss ".Length..], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return 0;
        }
    }

    /// <summary>Retires an idle placeholder: closing its input ends it (killed if it has not ended soon after), then its bundle and network go.</summary>
    public async ValueTask DisposeAsync()
    {
        await PlaceholderExit.RetireAsync(Process, async () =>
        {
            await Processes.RunAsync("runc", ["--root", _state, "kill", Id, "KILL"], CancellationToken.None).ConfigureAwait(false);
            await Process.WaitForExitAsync().ConfigureAwait(false);
        }).ConfigureAwait(false);
        await _cleanUp.Value.ConfigureAwait(false);
        Process.Dispose();
    }
}
