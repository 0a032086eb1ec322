using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text.Json;
using System.Threading.Channels;
using Ferry.Client;
using Ferry.Protocol;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Ferry.Cli.Progress;

/// <summary>What decides whether <c>ferry run</c> draws map progress.</summary>
/// <param name="StdoutRedirected">The CLI's stdout is not a terminal.</param>
/// <param name="StderrRedirected">The CLI's stderr, where the bar is drawn, is not a terminal.</param>
/// <param name="NoProgressOption"><c>--no-progress</c> was given.</param>
/// <param name="ProgressVariable">The value of <c>FERRY_PROGRESS</c>, if set.</param>
/// <param name="Term">The value of <c>TERM</c>, if set.</param>
internal sealed record ProgressEnvironment(bool StdoutRedirected, bool StderrRedirected, bool NoProgressOption, string? ProgressVariable, string? Term)
{
    /// <summary>The name of the variable that turns the bar off with <c>0</c>, <c>false</c>, <c>off</c> or <c>no</c>.</summary>
    public const string Variable = "FERRY_PROGRESS";

    public static ProgressEnvironment Current(bool noProgressOption) => new(
        Console.IsOutputRedirected, Console.IsErrorRedirected, noProgressOption,
        Environment.GetEnvironmentVariable(Variable), Environment.GetEnvironmentVariable("TERM"));

    /// <summary>
    /// Draws only for a person at a terminal: both output streams are terminals (a script reading either gets clean
    /// text), the terminal can move the cursor, and neither the option nor the variable turned it off.
    /// </summary>
    public bool ShouldDraw =>
        !StdoutRedirected && !StderrRedirected && !NoProgressOption
        && !string.Equals(Term, "dumb", StringComparison.Ordinal)
        && ProgressVariable?.Trim().ToLowerInvariant() is not ("0" or "false" or "off" or "no");
}

/// <summary>One map's numbers as the bar shows them, from the call's counts on the server.</summary>
/// <param name="Done">Inputs with an outcome, success or failure.</param>
/// <param name="Total">Inputs the server has.</param>
/// <param name="Failed">Inputs that failed.</param>
/// <param name="AllSubmitted">Every input has reached the server, so <paramref name="Total"/> is the map's size.</param>
/// <param name="PerSecond">Outcomes per second since the map started.</param>
internal sealed record MapCounts(int Done, int Total, int Failed, bool AllSubmitted, double PerSecond)
{
    public static MapCounts From(CallProgress progress, TimeSpan elapsed)
    {
        var done = progress.Succeeded + progress.Failed;
        return new MapCounts(done, progress.Total, progress.Failed, progress.Final, elapsed > TimeSpan.Zero ? done / elapsed.TotalSeconds : 0);
    }

    /// <summary>True once every input is in and has an outcome.</summary>
    public bool IsComplete => AllSubmitted && Done >= Total;

    /// <summary><c>37/100</c>; while inputs are still arriving, <c>37/60+</c>.</summary>
    public string CountText => $"{Done}/{Total}{(AllSubmitted ? "" : "+")}";

    /// <summary><c>12.3/s</c>, or <c>-</c> before the first outcome.</summary>
    public string RateText => Done == 0 ? "-/s" : PerSecond >= 100 ? $"{PerSecond:0}/s" : $"{PerSecond:0.0}/s";

    /// <summary><c>2 failed</c>, or empty when none did.</summary>
    public string FailedText => Failed == 0 ? "" : $"{Failed} failed";
}

/// <summary>
/// The live progress of the maps a local program starts under <c>ferry run</c>: the program announces each map's call
/// on a Unix socket (<see cref="FerryEnv.ProgressSocket"/>), and this draws one bar per map on stderr, fed by the call's
/// counts from the server, until every map it shows is complete. Between maps nothing is drawn.
/// </summary>
internal sealed class MapProgress : IAsyncDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);
    private static int _drawing;

    private readonly FerryClient _client;
    private readonly Socket _listener;
    private readonly string _directory;
    private readonly Channel<MapStarted> _started = Channel.CreateUnbounded<MapStarted>();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly Task _drawingLoop;
    private int _disposed;

    private MapProgress(FerryClient client, string directory, Socket listener)
    {
        _client = client;
        _directory = directory;
        _listener = listener;
        SocketPath = Path.Combine(directory, "progress.sock");
        _accepting = AcceptAsync(_stop.Token);
        _drawingLoop = DrawAsync(_stop.Token);
    }

    /// <summary>Whether a bar is on screen: other output then goes through <see cref="Output.Err"/>, above it.</summary>
    public static bool Drawing => Volatile.Read(ref _drawing) != 0;

    /// <summary>The socket the local program announces its maps on.</summary>
    public string SocketPath { get; }

    /// <summary>Listens for a program's maps, or returns null when <paramref name="environment"/> says not to draw.</summary>
    public static MapProgress? Start(FerryClient client, ProgressEnvironment environment)
    {
        if (!environment.ShouldDraw)
        {
            return null;
        }
        var directory = Directory.CreateTempSubdirectory("ferry-progress-").FullName;
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(Path.Combine(directory, "progress.sock")));
            listener.Listen(4);
        }
        catch (SocketException)
        {
            // A run without a bar is still a run.
            listener.Dispose();
            Directory.Delete(directory, recursive: true);
            return null;
        }
        return new MapProgress(client, directory, listener);
    }

    private async Task AcceptAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var connection = await _listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
                _ = ReadAsync(connection, cancellationToken);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task ReadAsync(Socket connection, CancellationToken cancellationToken)
    {
        using (connection)
        {
            using var reader = new StreamReader(new NetworkStream(connection, ownsSocket: false));
            try
            {
                while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
                {
                    MapStarted? started = null;
                    try
                    {
                        started = JsonSerializer.Deserialize(line, ProtocolJsonContext.Default.MapStarted);
                    }
                    catch (JsonException)
                    {
                    }
                    if (started is not null)
                    {
                        _started.Writer.TryWrite(started);
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or SocketException)
            {
            }
        }
    }

    private async Task DrawAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (await _started.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                Volatile.Write(ref _drawing, 1);
                try
                {
                    var counts = new ConcurrentDictionary<int, MapCounts>();
                    await Output.Err.Progress()
                        .AutoClear(false)
                        .HideCompleted(false)
                        .Columns(
                            new TaskDescriptionColumn { Alignment = Justify.Left },
                            new ProgressBarColumn(),
                            new CountsColumn(counts, c => c.CountText),
                            new CountsColumn(counts, c => c.RateText),
                            new CountsColumn(counts, c => c.FailedText, Color.Red),
                            new ElapsedTimeColumn())
                        .StartAsync(context => FollowAsync(context, counts, cancellationToken)).ConfigureAwait(false);
                }
                finally
                {
                    Volatile.Write(ref _drawing, 0);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Polls the shown maps' counts until all are complete and no other map has started.</summary>
    private async Task FollowAsync(ProgressContext context, ConcurrentDictionary<int, MapCounts> counts, CancellationToken cancellationToken)
    {
        var shown = new List<(MapStarted Map, ProgressTask Task, DateTimeOffset Start)>();
        var time = TimeProvider.System;
        try
        {
            while (true)
            {
                while (_started.Reader.TryRead(out var map))
                {
                    var label = map.Kind == CallKinds.Spawn ? $"{map.Function} (spawned)" : map.Function;
                    var task = context.AddTask(Markup.Escape(label), autoStart: true, maxValue: 1);
                    task.Value = 0;
                    shown.Add((map, task, time.GetUtcNow()));
                }
                var active = shown.Where(s => !s.Task.IsFinished).ToList();
                if (active.Count == 0)
                {
                    return;
                }
                await UpdateAsync(active, counts, cancellationToken).ConfigureAwait(false);
                context.Refresh();
                if (shown.All(s => s.Task.IsFinished) && _started.Reader.Count == 0)
                {
                    return;
                }
                await Task.Delay(PollInterval, time, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The program ended: each bar shows the counts as they are now, not as the last poll saw them.
            using var last = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                await UpdateAsync(shown.Where(s => !s.Task.IsFinished).ToList(), counts, last.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            foreach (var (_, task, _) in shown)
            {
                task.StopTask();
            }
            context.Refresh();
        }
    }

    private async Task UpdateAsync(List<(MapStarted Map, ProgressTask Task, DateTimeOffset Start)> active, ConcurrentDictionary<int, MapCounts> counts, CancellationToken cancellationToken)
    {
        foreach (var (map, task, start) in active)
        {
            CallProgress progress;
            try
            {
                progress = await _client.GetCallProgressAsync(map.CallId, cancellationToken).ConfigureAwait(false);
            }
            catch (FerryException)
            {
                // The call is gone (the app stopped): its bar stays as it was last seen.
                task.StopTask();
                continue;
            }
            var now = MapCounts.From(progress, TimeProvider.System.GetUtcNow() - start);
            counts[task.Id] = now;
            task.MaxValue = Math.Max(1, now.Total);
            task.Value = now.Done;
            if (now.IsComplete)
            {
                task.StopTask();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _accepting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _drawingLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>A column showing one of a map's <see cref="MapCounts"/> texts.</summary>
    private sealed class CountsColumn(ConcurrentDictionary<int, MapCounts> counts, Func<MapCounts, string> text, Color? color = null) : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            counts.TryGetValue(task.Id, out var now) ? new Text(text(now), new Style(color)) : Text.Empty;
    }
}
