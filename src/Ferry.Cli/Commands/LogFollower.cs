using Ferry.Client;
using Ferry.Protocol;
using Spectre.Console;

namespace Ferry.Cli.Commands;

/// <summary>How <see cref="LogFollower"/> prints.</summary>
/// <param name="Json">Each entry as one JSON object per line on stdout, whatever its stream: for scripts.</param>
/// <param name="Timestamps">Each line starts with the time it was logged.</param>
internal sealed record LogFormat(bool Json = false, bool Timestamps = false)
{
    public static readonly LogFormat Plain = new();
}

/// <summary>
/// Prints an app's logs as they arrive: container stdout to stdout, stderr and platform events to stderr; or, with
/// <see cref="LogFormat.Json"/>, every entry as a JSON line on stdout.
/// </summary>
internal sealed class LogFollower(FerryClient client, string appId, string? containerId = null, LogFormat? format = null)
{
    private readonly LogFormat _format = format ?? LogFormat.Plain;

    private long _after;

    public async Task FollowAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var batch = await FetchAsync(TimeSpan.FromSeconds(20), cancellationToken).ConfigureAwait(false);
                if (batch.AppStopped && batch.Entries.Count == 0)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (FerryException e)
        {
            Output.Error($"Stopped following logs: {e.Message}");
        }
    }

    /// <summary>Prints whatever has arrived, without waiting for more.</summary>
    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        try
        {
            while ((await FetchAsync(TimeSpan.Zero, cancellationToken).ConfigureAwait(false)).Entries.Count > 0)
            {
            }
        }
        catch (Exception e) when (e is FerryException or OperationCanceledException)
        {
        }
    }

    private readonly SemaphoreSlim _print = new(1, 1);

    private async Task<LogBatch> FetchAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        var after = Volatile.Read(ref _after);
        // One container's lines come from the same log, filtered by the control plane.
        var path = containerId is null ? Routes.AppLogs(appId, after, wait) : Routes.ContainerLogs(containerId, after, wait);
        var batch = await client.SendAsync<object, LogBatch>(HttpMethod.Get, path, null, null, ProtocolJsonContext.Default.LogBatch, cancellationToken).ConfigureAwait(false);
        await _print.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var entry in batch.Entries.Where(e => e.Seq > _after))
            {
                Print(entry, _format);
            }
            _after = Math.Max(_after, batch.Next);
        }
        finally
        {
            _print.Release();
        }
        return batch;
    }

    public static void Print(LogEntry entry, LogFormat? format = null)
    {
        format ??= LogFormat.Plain;
        if (format.Json)
        {
            Console.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(entry, ProtocolJsonContext.Default.LogEntry));
            return;
        }
        var time = format.Timestamps ? entry.Time.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss.fff ", System.Globalization.CultureInfo.InvariantCulture) : "";
        if (Progress.MapProgress.Drawing && entry.Stream is LogStreams.Stdout or LogStreams.Stderr)
        {
            // Through the console that draws the bar, which keeps the bar below the lines: both are one terminal.
            Output.Err.WriteLine(time + entry.Text);
            return;
        }
        switch (entry.Stream)
        {
            case LogStreams.Stdout:
                Console.Out.WriteLine(time + entry.Text);
                break;
            case LogStreams.Stderr:
                Console.Error.WriteLine(time + entry.Text);
                break;
            default:
                Output.Info($"{time}[{entry.Function ?? "app"}{(entry.ContainerId is null ? "" : " " + entry.ContainerId)}] {entry.Text}");
                break;
        }
    }
}
