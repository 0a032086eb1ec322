using System.Diagnostics;
using System.Text.Json;
using Ferry.Client;
using Ferry.Protocol;

namespace Ferry.Cli.Commands;

/// <summary>
/// <c>ferry serve</c>: runs an app as served versions of <c>NAME-serve</c> that live while the command does, watches
/// the source, and on a change rebuilds and swaps the app with the drain rules of a redeploy. A build that fails keeps
/// the running version.
/// </summary>
internal static class ServeAppCommand
{
    /// <summary>How often the source is checked for changes.</summary>
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    public static async Task<int> RunAsync(string target, string? server, CancellationToken cancellationToken)
    {
        var path = RunTarget.Parse(target).Path;
        var stamp = SourceStamp(path);
        var (client, version, definition) = await DeployCommand.DeployAsync(path, null, "-serve", "serve", server, ephemeral: true, cancellationToken).ConfigureAwait(false);
        using var owned = client;
        var appId = version.AppId;
        var heartbeat = AppHeartbeat.Start(client, appId);
        Output.Info($"Serving {version.AppName} v{version.Version} ({appId}); call it by name as '{version.AppName}'. Watching {path}; Ctrl+C stops it.");
        await DeployCommand.PrintWebUrlsAsync(client, appId, cancellationToken).ConfigureAwait(false);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
                var now = SourceStamp(path);
                if (now == stamp)
                {
                    continue;
                }
                stamp = now;
                var clock = Stopwatch.StartNew();
                try
                {
                    var (next, nextVersion, nextDefinition) = await DeployCommand.DeployAsync(path, version.AppName, "", "serve", server, ephemeral: true, cancellationToken).ConfigureAwait(false);
                    next.Dispose();
                    var previousHeartbeat = heartbeat;
                    heartbeat = AppHeartbeat.Start(client, nextVersion.AppId);
                    await previousHeartbeat.DisposeAsync().ConfigureAwait(false);
                    Output.Step($"Swapped {nextVersion.AppName} to v{nextVersion.Version} ({nextVersion.AppId}): {Changes(definition, nextDefinition)}; v{version.Version} drains", clock.Elapsed);
                    (version, definition, appId) = (nextVersion, nextDefinition, nextVersion.AppId);
                }
                catch (Exception e) when (e is CliException or FerryException)
                {
                    Output.Error(e.Message);
                    Output.Info($"Kept v{version.Version} running.");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            await heartbeat.DisposeAsync().ConfigureAwait(false);
            await RunCommand.StopAppAsync(client, appId).ConfigureAwait(false);
            Output.Info($"Stopped {version.AppName} ({appId}).");
        }
        return 0;
    }

    /// <summary>What a swap changed, by function: added, removed, and those whose signature or settings changed.</summary>
    internal static string Changes(AppDefinition before, AppDefinition after)
    {
        string Json(FunctionDefinition f) => JsonSerializer.Serialize(f, ProtocolJsonContext.Default.FunctionDefinition);
        var old = before.Functions.ToDictionary(f => f.Name, Json);
        var added = after.Functions.Where(f => !old.ContainsKey(f.Name)).Select(f => f.Name).ToList();
        var removed = before.Functions.Where(f => after.Functions.All(a => a.Name != f.Name)).Select(f => f.Name).ToList();
        var changed = after.Functions.Where(f => old.TryGetValue(f.Name, out var was) && was != Json(f)).Select(f => f.Name).ToList();
        var parts = new List<string>();
        if (added.Count > 0)
        {
            parts.Add("added " + string.Join(", ", added));
        }
        if (removed.Count > 0)
        {
            parts.Add("removed " + string.Join(", ", removed));
        }
        if (changed.Count > 0)
        {
            parts.Add("changed " + string.Join(", ", changed));
        }
        return parts.Count == 0 ? "code changed, functions the same" : string.Join("; ", parts);
    }

    /// <summary>A stamp of the source: the file, or every .cs and project file of the project's directory outside bin/obj.</summary>
    internal static string SourceStamp(string path)
    {
        var full = Path.GetFullPath(path);
        var directory = Directory.Exists(full) ? full : Path.GetDirectoryName(full)!;
        IEnumerable<string> files = File.Exists(full) && full.EndsWith(".cs", StringComparison.OrdinalIgnoreCase)
            ? [full]
            : Directory.EnumerateFiles(directory, "*.*", SearchOption.AllDirectories)
                .Where(f => f.EndsWith(".cs", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".csproj", StringComparison.OrdinalIgnoreCase))
                .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                    && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal));
        return string.Join("|", files.Order(StringComparer.Ordinal).Select(f =>
        {
            var info = new FileInfo(f);
            return info.Exists ? $"{f}:{info.LastWriteTimeUtc.Ticks}:{info.Length}" : f;
        }));
    }
}
