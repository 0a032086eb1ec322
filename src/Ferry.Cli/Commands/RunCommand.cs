using System.Diagnostics;
using System.Runtime.InteropServices;
using Ferry.Cli.Progress;
using Ferry.Client;
using Ferry.Protocol;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry run</c>: build, upload, create an app, run its entrypoint locally and its functions remotely.</summary>
internal static class RunCommand
{
    /// <summary>The exit code after an interrupt (Ctrl-C or SIGTERM), as shells report a command ended by SIGINT.</summary>
    internal const int InterruptedExitCode = 130;

    public static async Task<int> RunAsync(string target, string[] programArgs, bool detach, bool noProgress, string? server, CancellationToken cancellationToken)
    {
        // System.CommandLine 2.0.0 leaves SIGINT and SIGTERM to the runtime, which would end this process at once and
        // leave the app, its containers and the local program running. The first one stops them; a second exits now.
        using var interrupt = new Interrupt();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, interrupt.Token);
        try
        {
            return await RunAsync(RunTarget.Parse(target), programArgs, detach, ProgressEnvironment.Current(noProgress), server, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (interrupt.Token.IsCancellationRequested)
        {
            return InterruptedExitCode;
        }
    }

    private static async Task<int> RunAsync(RunTarget parsed, string[] programArgs, bool detach, ProgressEnvironment progressEnvironment, string? server, CancellationToken cancellationToken)
    {
        Timings.Mark("command parsed");
        var clock = Stopwatch.StartNew();
        var connecting = ControlPlane.ConnectAsync(server, startLocal: true, cancellationToken);
        var program = await Output.StatusAsync("Building…", () => ProjectBuilder.BuildAsync(parsed.Path, cancellationToken)).ConfigureAwait(false);
        Timings.Mark("build");
        Output.Step(program.Rebuilt ? $"Built {parsed.Path}" : $"Build of {parsed.Path} is up to date", clock.Elapsed);
        Timings.Mark("first output");
        using var client = await Output.StatusAsync("Connecting to the server…", () => connecting).ConfigureAwait(false);
        Timings.Mark("connect");

        // The program starts while the build uploads, checks its target and arguments, and says it is ready; only
        // then is the app created. A program that stops first (a mistake it has printed) leaves no app behind.
        await using var handshake = RunHandshakeListener.Create();
        var progress = MapProgress.Start(client, progressEnvironment);
        using var process = StartLocal(program, client, null, FerryModes.Local, parsed.Name, programArgs, progress?.SocketPath, handshake.SocketPath);
        try
        {
            var exited = process.WaitForExitAsync(cancellationToken);
            using var uploadCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            clock.Restart();
            var uploading = ControlPlane.UploadAsync(client, program, uploadCancel.Token);
            var ready = handshake.WaitForReadyAsync(cancellationToken);
            if (await Task.WhenAny(ready, exited).ConfigureAwait(false) == exited && !ready.IsCompletedSuccessfully)
            {
                await uploadCancel.CancelAsync().ConfigureAwait(false);
                await ((Task)uploading).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                await exited.ConfigureAwait(false);
                return process.ExitCode;
            }
            Timings.Mark("program ready");
            var (buildId, uploaded, bytes) = await Output.StatusAsync("Uploading…", () => uploading).ConfigureAwait(false);
            Output.Step(uploaded == 0 ? "Upload skipped: the server has this build" : $"Uploaded {uploaded} files ({bytes / 1024.0:0} KiB)", clock.Elapsed);
            Timings.Mark("upload");
            var app = await client.SendAsync(HttpMethod.Post, Routes.Apps, new CreateAppRequest(program.AppName, buildId, detach),
                ProtocolJsonContext.Default.CreateAppRequest, ProtocolJsonContext.Default.CreateAppResponse, cancellationToken).ConfigureAwait(false);
            Output.Info($"App {app.AppId} on {client.ServerUrl}{(detach ? " (detached: it keeps running after this command)" : "")}");
            Timings.Mark("app created");
            await handshake.SendAppAsync(app.AppId, cancellationToken).ConfigureAwait(false);
            return await FollowAsync(client, app.AppId, process, progress, detach, server, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        catch
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
            throw;
        }
        finally
        {
            if (progress is not null)
            {
                await progress.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Prints the app's logs and keeps it alive while the local program runs, then ends the run.</summary>
    private static async Task<int> FollowAsync(FerryClient client, string appId, Process process, MapProgress? progress, bool detach, string? server, CancellationToken cancellationToken)
    {
        using var stopLogs = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var logs = new LogFollower(client, appId);
        var following = logs.FollowAsync(stopLogs.Token);
        // Unless detached, the app lives while this command does: killed, it stops sending heartbeats and the server stops the app.
        await using var heartbeat = detach ? null : AppHeartbeat.Start(client, appId);
        // An auto-started local server that crashes is started again at the same address; the program reconnects to it.
        var supervising = ControlPlane.IsLocal(server) ? ControlPlane.SuperviseLocalAsync(stopLogs.Token) : Task.CompletedTask;
        try
        {
            try
            {
                await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
            Timings.Mark("program exit");
            return process.ExitCode;
        }
        finally
        {
            if (progress is not null)
            {
                await progress.DisposeAsync().ConfigureAwait(false);
            }
            // Show what the containers printed up to now before stopping the app or returning; a server that is gone
            // gets a few seconds, not another reconnect window, so the command ends within its stated bound.
            using (var drain = new CancellationTokenSource(FinalRequestsLimit))
            {
                await logs.DrainAsync(drain.Token).ConfigureAwait(false);
            }
            await stopLogs.CancelAsync().ConfigureAwait(false);
            await following.ConfigureAwait(false);
            await SwallowCancellationAsync(supervising).ConfigureAwait(false);
            if (cancellationToken.IsCancellationRequested)
            {
                Output.Info(detach
                    ? $"Interrupted: the local program is stopped; app {appId} keeps running (detached)."
                    : $"Interrupted: stopping app {appId} and its containers. Press Ctrl-C again to exit at once.");
            }
            await FinishAsync(client, appId, logs, detach).ConfigureAwait(false);
            if (cancellationToken.IsCancellationRequested && !detach)
            {
                Output.Info($"Stopped app {appId}.");
            }
            Timings.Mark("app stopped");
            Timings.Print();
        }
    }

    /// <summary>How long the requests after the program ends (draining logs, stopping the app) may take in all.</summary>
    private static readonly TimeSpan FinalRequestsLimit = TimeSpan.FromSeconds(10);

    /// <summary>How long a stopped app's containers may take to run their exit hooks and end before the command returns anyway.</summary>
    internal static readonly TimeSpan ExitHooksLimit = TimeSpan.FromSeconds(40);

    /// <summary>
    /// Ends a run: unless detached, stops the app and waits (at most <see cref="ExitHooksLimit"/>) for its containers to
    /// run their exit hooks and end, printing what they print, so a run shows all of its output before it returns.
    /// </summary>
    internal static async Task FinishAsync(FerryClient client, string appId, LogFollower logs, bool detach)
    {
        if (detach)
        {
            return;
        }
        await StopAppAsync(client, appId).ConfigureAwait(false);
        // A stopped app's log ends once its last container is gone, after the lines its exit hooks printed.
        using var limit = new CancellationTokenSource(ExitHooksLimit);
        await logs.FollowAsync(limit.Token).ConfigureAwait(false);
        if (limit.IsCancellationRequested)
        {
            Output.Error($"The app's containers did not finish their exit hooks within {ExitHooksLimit.TotalSeconds:0} s; the rest of their output is in `ferry app logs {appId}`.");
        }
    }

    private static async Task SwallowCancellationAsync(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Builds the program, uploads it and creates an app for it on the control plane.</summary>
    public static async Task<(FerryClient Client, BuiltProgram Program, CreateAppResponse App)> CreateAppAsync(RunTarget parsed, bool detach, string? server, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var connecting = ControlPlane.ConnectAsync(server, startLocal: true, cancellationToken);
        var program = await Output.StatusAsync("Building…", () => ProjectBuilder.BuildAsync(parsed.Path, cancellationToken)).ConfigureAwait(false);
        Output.Step(program.Rebuilt ? $"Built {parsed.Path}" : $"Build of {parsed.Path} is up to date", clock.Elapsed);

        clock.Restart();
        var client = await Output.StatusAsync("Connecting to the server…", () => connecting).ConfigureAwait(false);
        var (buildId, uploaded, bytes) = await Output.StatusAsync("Uploading…", () => ControlPlane.UploadAsync(client, program, cancellationToken)).ConfigureAwait(false);
        Output.Step(uploaded == 0 ? "Upload skipped: the server has this build" : $"Uploaded {uploaded} files ({bytes / 1024.0:0} KiB)", clock.Elapsed);

        var app = await client.SendAsync(HttpMethod.Post, Routes.Apps, new CreateAppRequest(program.AppName, buildId, detach),
            ProtocolJsonContext.Default.CreateAppRequest, ProtocolJsonContext.Default.CreateAppResponse, cancellationToken).ConfigureAwait(false);
        Output.Info($"App {app.AppId} on {client.ServerUrl}{(detach ? " (detached: it keeps running after this command)" : "")}");

        return (client, program, app);
    }

    public static async Task StopAppAsync(FerryClient client, string appId)
    {
        using var limit = new CancellationTokenSource(FinalRequestsLimit);
        try
        {
            await client.SendAsync<object, AppSummary>(HttpMethod.Post, Routes.StopApp(appId), null, null, ProtocolJsonContext.Default.AppSummary, limit.Token).ConfigureAwait(false);
        }
        catch (FerryException e)
        {
            Output.Error($"Could not stop app {appId}: {e.Message}");
        }
        catch (OperationCanceledException)
        {
            Output.Error($"Could not stop app {appId}: the server did not answer within {FinalRequestsLimit.TotalSeconds:0} s. Stop it later with `ferry app stop {appId}`.");
        }
    }

    /// <summary>Runs the user's program on this machine in <paramref name="mode"/>, pointed at the app.</summary>
    public static async Task<int> RunLocalAsync(BuiltProgram program, FerryClient client, string appId, string mode, string? name, string[] args, CancellationToken cancellationToken)
    {
        using var process = StartLocal(program, client, appId, mode, name, args, null, null);
        try
        {
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return process.ExitCode;
    }

    /// <summary>Starts the user's program in <paramref name="mode"/>; without <paramref name="appId"/>, it learns it on <paramref name="runSocket"/>.</summary>
    private static Process StartLocal(BuiltProgram program, FerryClient client, string? appId, string mode, string? name, string[] args, string? progressSocket, string? runSocket)
    {
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(program.OutputDir, program.EntryAssembly));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment[FerryEnv.Mode] = mode;
        info.Environment[FerryEnv.ServerUrl] = client.ServerUrl.ToString();
        info.Environment[FerryEnv.Token] = client.Token;
        info.Environment[FerryEnv.ServerFingerprint] = client.Fingerprint;
        if (appId is not null)
        {
            info.Environment[FerryEnv.AppId] = appId;
        }
        if (name is not null)
        {
            info.Environment[FerryEnv.Entrypoint] = name;
        }
        if (progressSocket is not null)
        {
            info.Environment[FerryEnv.ProgressSocket] = progressSocket;
        }
        if (runSocket is not null)
        {
            info.Environment[FerryEnv.RunSocket] = runSocket;
        }
        return Process.Start(info) ?? throw new CliException("Could not start the program with `dotnet`.");
    }
}

/// <summary>
/// Takes SIGINT and SIGTERM for the length of a command: the first cancels <see cref="Token"/> so the command can stop
/// what it started; the second ends the process at once with <see cref="RunCommand.InterruptedExitCode"/>.
/// </summary>
internal sealed class Interrupt : IDisposable
{
    private readonly CancellationTokenSource _source = new();
    private readonly PosixSignalRegistration _sigint;
    private readonly PosixSignalRegistration _sigterm;
    private int _count;

    public Interrupt()
    {
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    public CancellationToken Token => _source.Token;

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        if (Interlocked.Increment(ref _count) > 1)
        {
            Environment.Exit(RunCommand.InterruptedExitCode);
        }
        _source.Cancel();
    }

    public void Dispose()
    {
        _sigint.Dispose();
        _sigterm.Dispose();
        _source.Dispose();
    }
}
