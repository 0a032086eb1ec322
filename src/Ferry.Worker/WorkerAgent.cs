using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text.Json;
using System.Threading.Channels;
using Ferry.Protocol;
using Ferry.Protocol.Transport;
using Ferry.Worker.Images;
using Ferry.Worker.Runtimes;
using Microsoft.Extensions.Logging;

namespace Ferry.Worker;

/// <summary>
/// A worker: keeps a stream open to the control plane, starts and stops containers as it is told, and reports their
/// output and exits. It reconnects on its own when the control plane restarts.
/// </summary>
public sealed partial class WorkerAgent : IAsyncDisposable
{
    private readonly WorkerOptions _options;
    private readonly IContainerRuntime _runtime;
    private readonly ILogger _logger;
    private readonly HttpClient _http;
    private readonly BuildCache _builds;
    private readonly Volumes.VolumeCache _volumes;
    private readonly ConcurrentDictionary<string, IContainerHandle> _containers = new(StringComparer.Ordinal);
    private readonly Channel<WorkerMessage> _outgoing = Channel.CreateUnbounded<WorkerMessage>();
    // Container output and exits share one ordered channel, so a container's last lines always precede its exit.
    private readonly Channel<WorkerMessage> _events = Channel.CreateUnbounded<WorkerMessage>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly WorkerResources _resources;
    // Probed once, on the first function that asks for snapshots; the probe runs a process, so it is awaited, not blocked on.
    private readonly Lazy<Task<Runtimes.Runc.SnapshotSupport>> _snapshots;
    // What this worker has already told (the worker's log, or an app's): each warning is said once.
    private readonly ConcurrentDictionary<string, bool> _warned = new(StringComparer.Ordinal);
    private Task _run = Task.CompletedTask;
    private Task _logPump = Task.CompletedTask;

    /// <summary>A worker serving <paramref name="options"/>'s control plane with <paramref name="runtime"/>, which it owns and disposes.</summary>
    public WorkerAgent(WorkerOptions options, IContainerRuntime runtime, ILogger logger)
    {
        _options = options;
        _runtime = runtime;
        _logger = logger;
        _http = new HttpClient(Credentials.Handler(options.ServerFingerprint)) { BaseAddress = options.ServerUrl, Timeout = TimeSpan.FromMinutes(10) };
        _http.DefaultRequestHeaders.Authorization = Credentials.Header(options.Token);
        _builds = new BuildCache(_http, Path.Combine(options.DataDir, "builds"));
        _volumes = new Volumes.VolumeCache(_http, Path.Combine(options.DataDir, "volumes"), options.ServerBlobDir);
        _snapshots = new(() => Runtimes.Runc.SnapshotSupport.ProbeAsync(runtime.Name, _stop.Token));
        _resources = new WorkerResources(
            options.Cpu ?? Environment.ProcessorCount,
            options.MemoryMiB ?? HostMemoryMiB(),
            options.Gpus ?? GpuInventory.Discover(),
            options.MaxContainers);
    }

    /// <summary>What this worker offers to the control plane.</summary>
    public WorkerResources Resources => _resources;

    public string RuntimeName => _runtime.Name;

    public void Start()
    {
        _logPump = Task.Run(PumpLogsAsync);
        _run = Task.Run(RunAsync);
    }

    private async Task RunAsync()
    {
        var delay = TimeSpan.FromMilliseconds(100);
        var maxDelay = TimeSpan.FromSeconds(2);
        System.Net.HttpStatusCode? refused = null;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await ServeAsync(_stop.Token).ConfigureAwait(false);
                delay = TimeSpan.FromMilliseconds(100);
                maxDelay = TimeSpan.FromSeconds(2);
                refused = null;
            }
            catch (WorkerRefusedException e)
            {
                // Said once per reason, and retried slowly: the token may be restored, but it will not fix itself soon.
                if (refused != e.Status)
                {
                    LogRefused(_logger, (int)e.Status, e.Message);
                    refused = e.Status;
                }
                maxDelay = e.RetryEvery;
            }
            catch (InvalidDataException e)
            {
                // A message the worker cannot read is a fault, not a dropped connection, though it is an IOException.
                LogStreamFailed(_logger, e);
            }
            catch (Exception e) when (e is WebSocketException or HttpRequestException or IOException)
            {
                LogDisconnected(_logger, e.Message);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogStreamFailed(_logger, e);
            }
            try
            {
                await Task.Delay(delay, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, maxDelay.Ticks));
        }
    }

    private sealed class WorkerRefusedException(System.Net.HttpStatusCode status, string message, TimeSpan? retryEvery = null) : Exception(message)
    {
        public System.Net.HttpStatusCode Status => status;

        public TimeSpan RetryEvery => retryEvery ?? TimeSpan.FromSeconds(30);
    }

    private async Task ServeAsync(CancellationToken cancellationToken)
    {
        using var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.FromSeconds(15);
        socket.Options.CollectHttpResponseDetails = true;
        Credentials.Apply(socket.Options, _options.Token, _options.ServerFingerprint);
        var url = new UriBuilder(_options.ServerUrl)
        {
            Scheme = _options.ServerUrl.Scheme == "https" ? "wss" : "ws",
            Path = "/" + Routes.WorkerStream,
        }.Uri;
        try
        {
            await socket.ConnectAsync(url, cancellationToken).ConfigureAwait(false);
        }
        catch (WebSocketException) when (socket.HttpStatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden)
        {
            throw new WorkerRefusedException(socket.HttpStatusCode, socket.HttpStatusCode == System.Net.HttpStatusCode.Unauthorized
                ? "the token is unknown or revoked"
                : "the token is not a worker join token; make one with `ferry token create --kind worker NAME`");
        }
        var messages = new MessageSocket<WorkerMessage, WorkerMessage>(socket, ProtocolJsonContext.Default.WorkerMessage, ProtocolJsonContext.Default.WorkerMessage);
        await messages.SendAsync(new WorkerHello(_options.WorkerId, _options.Name, _runtime.Name, _resources, [.. _containers.Keys]), cancellationToken).ConfigureAwait(false);
        LogConnected(_logger, _options.ServerUrl);

        using var connection = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var sender = Task.Run(async () =>
        {
            while (await _outgoing.Reader.WaitToReadAsync(connection.Token).ConfigureAwait(false))
            {
                while (_outgoing.Reader.TryPeek(out var message))
                {
                    await messages.SendAsync(message, connection.Token).ConfigureAwait(false);
                    _outgoing.Reader.TryRead(out _);
                }
            }
        }, CancellationToken.None);
        try
        {
            while (await messages.ReceiveAsync(cancellationToken).ConfigureAwait(false) is { } message)
            {
                switch (message)
                {
                    case StartContainerCommand start:
                        _ = RunContainerAsync(start);
                        break;
                    case OpenSessionCommand session:
                        _ = RunSessionAsync(session);
                        break;
                    case StopContainerCommand stop:
                        if (_containers.TryGetValue(stop.ContainerId, out var handle))
                        {
                            _ = handle.StopAsync(TimeSpan.FromSeconds(stop.GraceSeconds));
                        }
                        break;
                }
            }
            if (messages.CloseStatus == WebSocketCloseStatus.PolicyViolation)
            {
                // A worker id is served by one connection at a time: the old one may not have been dropped yet.
                throw new WorkerRefusedException(System.Net.HttpStatusCode.Conflict, messages.CloseStatusDescription ?? "refused", TimeSpan.FromSeconds(5));
            }
        }
        finally
        {
            await connection.CancelAsync().ConfigureAwait(false);
            try
            {
                await sender.ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException)
            {
            }
        }
    }

    /// <summary>
    /// .NET settings for every container process, unless its secrets set them. Tiered PGO is off: it compiles each hot
    /// method once more, instrumented, and a container runs the same few methods from the start, so the extra tier cost
    /// more CPU than it returned (a map of 100,000 on 2 cores took 16-20% less CPU in all with it off).
    /// </summary>
    internal static readonly IReadOnlyDictionary<string, string> ContainerRuntimeSettings = new Dictionary<string, string>
    {
        ["DOTNET_TieredPGO"] = "0",
    };

    /// <summary>
    /// .NET settings added for a container started for throughput (<see cref="StartContainerCommand.ForThroughput"/>),
    /// unless its secrets set them.
    /// <list type="bullet">
    /// <item>Tiering is off: such a container runs many inputs from its start, so it compiles its code once, fully
    /// optimised, instead of compiling its hot methods a second time while they wait. It cannot come from a
    /// placeholder, which started with tiering on.</item>
    /// <item>The thread pool's workers do not spin before they sleep. Between two small inputs each idle worker
    /// spun and yielded the core; with a map's containers several to a core, that spinning took about a third of
    /// their CPU, and turning it off ran maps of 300,000 trivial inputs about 15% faster on 2 cores
    /// (<c>bench/RESULTS.md</c>). A call's container keeps the default, which a lone call's round trip did not
    /// notice either way.</item>
    /// </list>
    /// </summary>
    internal static readonly IReadOnlyDictionary<string, string> ThroughputRuntimeSettings = new Dictionary<string, string>
    {
        ["DOTNET_TieredCompilation"] = "0",
        ["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] = "0",
    };

    /// <summary>
    /// Adds the .NET settings a container starts with to <paramref name="environment"/>, which already holds the
    /// function's secrets: a secret that sets one wins. A container started for throughput also gets
    /// <see cref="ThroughputRuntimeSettings"/>.
    /// </summary>
    internal static void AddRuntimeSettings(Dictionary<string, string> environment, bool forThroughput)
    {
        foreach (var (key, value) in forThroughput ? ThroughputRuntimeSettings.Concat(ContainerRuntimeSettings) : ContainerRuntimeSettings)
        {
            environment.TryAdd(key, value);
        }
    }

    private async Task RunContainerAsync(StartContainerCommand start)
    {
        var clock = Stopwatch.StartNew();
        IContainerHandle handle;
        var webPort = 0;
        try
        {
            var (dir, entry) = await _builds.GetAsync(start.BuildId, _stop.Token).ConfigureAwait(false);
            var environment = new Dictionary<string, string>
            {
                [FerryEnv.Mode] = FerryModes.Container,
                [FerryEnv.ServerUrl] = (await _runtime.GetContainerServerUrlAsync(_options.ServerUrl, _stop.Token).ConfigureAwait(false)).ToString(),
                [FerryEnv.AppId] = start.AppId,
                [FerryEnv.ContainerId] = start.ContainerId,
                [FerryEnv.ContainerToken] = start.Token,
                [FerryEnv.Function] = start.Function,
                [FerryEnv.PoolId] = start.PoolId,
                [FerryEnv.MaxInputs] = start.Settings.MaxInputs.ToString(System.Globalization.CultureInfo.InvariantCulture),
                [FerryEnv.BatchMaxSize] = (start.Settings.BatchMaxSize ?? 1).ToString(System.Globalization.CultureInfo.InvariantCulture),
                [FerryEnv.BatchWaitMs] = (start.Settings.BatchWaitMs ?? 0).ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            if (_options.ServerFingerprint is { } fingerprint)
            {
                environment[FerryEnv.ServerFingerprint] = fingerprint;
            }
            foreach (var (key, value) in start.SecretEnvironment ?? new Dictionary<string, string>())
            {
                // Ferry's own variables win: a secret cannot redirect a container to another server or token.
                environment.TryAdd(key, value);
            }
            AddRuntimeSettings(environment, start.ForThroughput);
            if (start.Parameters is { } parameters)
            {
                environment[FerryEnv.Parameters] = parameters.GetRawText();
            }
            if (start.FirstInput is { } first)
            {
                environment[FerryEnv.FirstInput] = JsonSerializer.Serialize(first, ProtocolJsonContext.Default.ContainerInput);
            }
            if (start.Settings.Web is { } web)
            {
                // A container with its own network listens on all its interfaces at any port; one that shares the
                // host's network gets a free loopback port, so two containers never collide.
                webPort = _runtime.OwnNetwork ? web.Port ?? WebPorts.Default : WebPorts.FreeLoopbackPort();
                environment[FerryEnv.WebPort] = webPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
                environment[FerryEnv.WebBind] = _runtime.OwnNetwork ? "0.0.0.0" : "127.0.0.1";
            }
            if (start.Settings.EnableMemorySnapshot)
            {
                await WarnWithoutSnapshotsAsync(start).ConfigureAwait(false);
            }
            if (!_runtime.Capabilities.Images && start.Settings.Image is { Steps.Count: > 0 } image && _warned.TryAdd("image:" + start.AppId, true))
            {
                OnOutput(start.ContainerId, LogStreams.System,
                    $"This worker runs containers as plain processes, so the image's steps ({string.Join("; ", image.Steps.Select(ImageSteps.Describe))}) are not applied. Run the worker as root with runc, debootstrap, iproute2 and nftables installed to build images.");
            }
            var volumes = await _volumes.PrepareAsync(start.ContainerId, start.Settings.Volumes ?? [], _stop.Token).ConfigureAwait(false);
            if (volumes.Count > 0)
            {
                environment[FerryEnv.Volumes] = DescribeVolumes(start, volumes);
            }
            var spec = new ContainerSpec(start.ContainerId, dir, entry, environment, start.Settings, start.GpuIndices, start.AppId, _builds,
                (image, elapsed) => _outgoing.Writer.TryWrite(new ImageBuilt(image.Id, image.Layers, image.BuiltLayers, elapsed.TotalSeconds,
                    [.. (start.Settings.Image?.Steps ?? []).Select(ImageSteps.Describe)])),
                Volumes: _runtime.MountsVolumes ? volumes : null, VolumeStateDir: _volumes.ContainerDir(start.ContainerId));
            handle = await _runtime.StartAsync(spec, OnOutput, _stop.Token).ConfigureAwait(false);
        }
        catch (Ferry.Worker.Images.ImageBuildException e)
        {
            _volumes.Release(start.ContainerId);
            _events.Writer.TryWrite(new ContainerExited(start.ContainerId, -1, ErrorKinds.ImageBuild, e.Message));
            return;
        }
        catch (Exception e)
        {
            _volumes.Release(start.ContainerId);
            LogStartFailed(_logger, start.ContainerId, e);
            _events.Writer.TryWrite(new ContainerExited(start.ContainerId, -1, ErrorKinds.Crash, $"The worker could not start the container: {e.Message}"));
            return;
        }
        _containers[start.ContainerId] = handle;
        var webAddress = start.Settings.Web is null ? null : $"{handle.Address ?? System.Net.IPAddress.Loopback}:{webPort}";
        _outgoing.Writer.TryWrite(new ContainerStarted(start.ContainerId, clock.Elapsed.TotalMilliseconds, webAddress));
        var exit = await handle.Exited.ConfigureAwait(false);
        _containers.TryRemove(start.ContainerId, out _);
        await handle.DisposeAsync().ConfigureAwait(false);
        _volumes.Release(start.ContainerId);
        _events.Writer.TryWrite(new ContainerExited(start.ContainerId, exit.ExitCode, exit.Reason, exit.Detail));
    }

    /// <summary>
    /// The container's <see cref="FerryEnv.Volumes"/>: where it finds each copy. A runtime that mounts volumes shows
    /// them at their paths; the process runtime cannot, so the container is given the host directories, and its app is
    /// told so once.
    /// </summary>
    private string DescribeVolumes(StartContainerCommand start, IReadOnlyList<Volumes.PreparedVolume> volumes)
    {
        List<VolumeMountState> states = _runtime.MountsVolumes
            ? [.. volumes.Select(v => new VolumeMountState(v.Mount.Volume, v.Mount.Path, v.Mount.Path, VolumeMountPaths.StateDir + "/" + Path.GetFileName(v.StateFile)))]
            : [.. volumes.Select(v => new VolumeMountState(v.Mount.Volume, v.Mount.Path, v.HostDir, v.StateFile))];
        if (!_runtime.MountsVolumes && _warned.TryAdd("volumes:" + start.AppId, true))
        {
            OnOutput(start.ContainerId, LogStreams.System,
                $"This worker runs containers as plain processes, which cannot mount volumes: {string.Join(", ", volumes.Select(v => $"'{v.Mount.Volume}' is not at {v.Mount.Path} but at {v.HostDir}"))}. Find the files through Volume.Path, which is right on every runtime.");
        }
        return JsonSerializer.Serialize(states, ProtocolJsonContext.Default.ListVolumeMountState);
    }

    /// <summary>Says once per worker, and once per app, that a function asked for memory snapshots this worker cannot take.</summary>
    private async Task WarnWithoutSnapshotsAsync(StartContainerCommand start)
    {
        var support = await _snapshots.Value.ConfigureAwait(false);
        if (support.Available)
        {
            return;
        }
        if (_warned.TryAdd("", true))
        {
            LogNoSnapshots(_logger, support.Warning);
        }
        if (_warned.TryAdd(start.AppId, true))
        {
            OnOutput(start.ContainerId, LogStreams.System, support.Warning);
        }
    }

    /// <summary>Runs <c>ferry container exec</c> or <c>ferry shell</c> for the control plane.</summary>
    private async Task RunSessionAsync(OpenSessionCommand command)
    {
        try
        {
            await SessionRelay.RunAsync(_options, command.SessionId, async (progress, cancellationToken) =>
            {
                if (_runtime is not ISessionRuntime sessions)
                {
                    throw new InvalidOperationException($"The {_runtime.Name} runtime has no containers to open a shell or exec in; run the worker on runc.");
                }
                if (command.ContainerId is { } containerId)
                {
                    return _containers.ContainsKey(containerId)
                        ? await sessions.ExecAsync(containerId, command.Command, cancellationToken).ConfigureAwait(false)
                        : throw new InvalidOperationException($"Container {containerId} is not running on this worker.");
                }
                var start = command.Container ?? throw new InvalidOperationException("The session names neither a container nor a function.");
                var (dir, entry) = await _builds.GetAsync(start.BuildId, cancellationToken).ConfigureAwait(false);
                var environment = new Dictionary<string, string> { [FerryEnv.AppId] = start.AppId, [FerryEnv.Function] = start.Function };
                var spec = new ContainerSpec(start.ContainerId, dir, entry, environment, start.Settings, start.GpuIndices, start.AppId, _builds, Command: command.Command);
                return await sessions.StartSessionAsync(spec, progress, cancellationToken).ConfigureAwait(false);
            }, _stop.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or HttpRequestException or OperationCanceledException)
        {
            LogSessionFailed(_logger, command.SessionId, e.Message);
        }
    }

    private void OnOutput(string containerId, string stream, string text) =>
        _events.Writer.TryWrite(new ContainerLogs([new ContainerLogLine(containerId, stream, text, DateTimeOffset.UtcNow)]));

    /// <summary>Forwards container output in batches (whatever has arrived goes in one message) and exits in order.</summary>
    private async Task PumpLogsAsync()
    {
        var batch = new List<ContainerLogLine>(512);
        try
        {
            while (await _events.Reader.WaitToReadAsync(_stop.Token).ConfigureAwait(false))
            {
                while (batch.Count < 512 && _events.Reader.TryRead(out var message))
                {
                    if (message is ContainerLogs logs)
                    {
                        batch.AddRange(logs.Lines);
                        continue;
                    }
                    Flush();
                    _outgoing.Writer.TryWrite(message);
                }
                Flush();
            }
        }
        catch (OperationCanceledException)
        {
        }

        void Flush()
        {
            if (batch.Count > 0)
            {
                _outgoing.Writer.TryWrite(new ContainerLogs(batch.ToArray()));
                batch.Clear();
            }
        }
    }

    private static long HostMemoryMiB()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024;
        }
        catch (IOException)
        {
            return 4096;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_containers.Values.Select(c => c.StopAsync(TimeSpan.FromSeconds(5)))).ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_run, _logPump).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await _runtime.DisposeAsync().ConfigureAwait(false);
        _http.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Connected to the control plane at {Url}.")]
    private static partial void LogConnected(ILogger logger, Uri url);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the control plane ({Reason}); reconnecting.")]
    private static partial void LogDisconnected(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "The control plane refused this worker ({Status}): {Reason}. Retrying.")]
    private static partial void LogRefused(ILogger logger, int status, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "The stream to the control plane failed; reconnecting.")]
    private static partial void LogStreamFailed(ILogger logger, Exception error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Warning}")]
    private static partial void LogNoSnapshots(ILogger logger, string warning);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId} ended early: {Reason}")]
    private static partial void LogSessionFailed(ILogger logger, string sessionId, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Container {ContainerId} failed to start.")]
    private static partial void LogStartFailed(ILogger logger, string containerId, Exception error);
}
