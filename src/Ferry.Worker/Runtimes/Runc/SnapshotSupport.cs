namespace Ferry.Worker.Runtimes.Runc;

/// <summary>
/// Whether this worker can start containers from memory snapshots. That needs CRIU, whose own <c>criu check</c> is
/// the test: it probes the kernel features checkpoint and restore depend on.
/// </summary>
/// <param name="Available">True when checkpoints could be taken and restored here.</param>
/// <param name="Reason">Why not, in words an operator can act on; or what passed.</param>
public sealed record SnapshotSupport(bool Available, string Reason)
{
    /// <summary>Runs <c>criu check</c> (when CRIU is installed) and reads the verdict.</summary>
    public static async Task<SnapshotSupport> ProbeAsync(string runtime, CancellationToken cancellationToken)
    {
        if (runtime != "runc")
        {
            return new SnapshotSupport(false, $"the {runtime} runtime has no containers to checkpoint");
        }
        if (GpuInventory.FindOnPath("criu") is null)
        {
            return FromCheck(null);
        }
        return FromCheck(await Processes.RunAsync("criu", ["check"], cancellationToken).ConfigureAwait(false));
    }

    /// <summary>The verdict from <c>criu check</c>'s exit code and output; null means CRIU is not installed.</summary>
    public static SnapshotSupport FromCheck((int Code, string Output)? check)
    {
        if (check is not { } result)
        {
            return new SnapshotSupport(false, "CRIU is not installed (apt-get install criu)");
        }
        if (result.Code == 0)
        {
            // The check passing is necessary, not sufficient: restoring is not built yet, so containers still cold-start.
            return new SnapshotSupport(false, "criu check passes, but this version of Ferry does not restore containers from checkpoints yet");
        }
        var lines = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        // Helper processes criu ran report only their exit status; the first other error names the cause.
        var error = lines.FirstOrDefault(l => l.StartsWith("Error", StringComparison.Ordinal) && !l.Contains("exited, status=", StringComparison.Ordinal))
            ?? lines.LastOrDefault() ?? $"exit code {result.Code}";
        // criu prefixes errors with its source location: "Error (criu/vdso.c:613): vdso: ...".
        var detail = error.IndexOf("): ", StringComparison.Ordinal) is var at and > 0 ? error[(at + 3)..] : error;
        return new SnapshotSupport(false, $"criu check fails on this host ({detail})");
    }

    /// <summary>The one line a worker logs, and an app sees, when a function asks for snapshots that cannot be had.</summary>
    public string Warning => $"Memory snapshots are not available on this worker: {Reason}. Containers of functions with EnableMemorySnapshot cold-start normally.";
}
