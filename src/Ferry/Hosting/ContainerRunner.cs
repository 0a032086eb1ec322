using System.Diagnostics;
using System.Net.WebSockets;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Threading.Channels;
using Ferry.Protocol;
using Ferry.Protocol.Transport;

namespace Ferry.Hosting;

/// <summary>
/// Serves inputs inside a container: keeps one WebSocket to the control plane, runs each input as it arrives and
/// sends outputs back in batches. Each running input has its own cancellation token, cancelled when the control plane
/// cancels the input or the container is stopping.
/// </summary>
internal sealed class ContainerRunner(App app)
{
    private readonly Channel<Outgoing> _outputs = Channel.CreateUnbounded<Outgoing>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<ContainerInput> _inputs = Channel.CreateUnbounded<ContainerInput>(new UnboundedChannelOptions { SingleWriter = true });
    private readonly Lock _gate = new();
    private readonly Dictionary<long, TrackedInput> _tracked = [];
    private readonly Dictionary<long, ItemWindow> _windows = [];
    private bool _stopping;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        // The first message's serializer warms up on another core meanwhile (tens of ms on a cold process).
        _ = Task.Run(WarmSerializer);
        var containerId = Require(FerryEnv.ContainerId);
        var token = Require(FerryEnv.ContainerToken);
        var server = new Uri(Require(FerryEnv.ServerUrl));
        var function = Require(FerryEnv.Function);
        app.Classes.TryGetValue(function, out var cls);
        if (!app.Functions.ContainsKey(function) && cls is null)
        {
            await Console.Error.WriteLineAsync($"This build has no function or class named '{function}'.").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        // The connection opens while the rest of start-up (and a class's enter hooks) runs.
        var wsUrl = new UriBuilder(server)
        {
            Scheme = server.Scheme == "https" ? "wss" : "ws",
            Path = "/" + Routes.ContainerStream(containerId),
        }.Uri;
        var connecting = ContainerSocket.ConnectAsync(wsUrl, new Dictionary<string, string> { ["Authorization"] = Credentials.Header(token).ToString() }, cancellationToken,
            Environment.GetEnvironmentVariable(FerryEnv.ServerFingerprint));
        var maxInputs = int.TryParse(Environment.GetEnvironmentVariable(FerryEnv.MaxInputs), out var max) && max > 0 ? max : 1;
        _batchMaxSize = int.TryParse(Environment.GetEnvironmentVariable(FerryEnv.BatchMaxSize), out var batch) && batch > 0 ? batch : 1;
        _batchWait = TimeSpan.FromMilliseconds(int.TryParse(Environment.GetEnvironmentVariable(FerryEnv.BatchWaitMs), out var wait) && wait > 0 ? wait : 0);

        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            _stop.Cancel();
        });
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);

        if (cls is not null)
        {
            // Enter hooks run before the container reports ready, so no input ever sees a half-built instance.
            var parameters = Environment.GetEnvironmentVariable(FerryEnv.Parameters) is { Length: > 0 } json
                ? JsonDocument.Parse(json).RootElement.Clone()
                : (JsonElement?)null;
            try
            {
                await cls.CreateCurrentAsync(parameters).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                await ReportEnterFailureAsync(cls.Name, e, connecting).ConfigureAwait(false);
                return ExitCodes.Failure;
            }
        }
        // A web function's server listens before the container reports ready: the gateway forwards from then on.
        IAsyncDisposable? webServer = null;
        if (app.Functions.TryGetValue(function, out var declared) && declared is Web.WebFunction web)
        {
            var listen = new Web.WebListen(
                Environment.GetEnvironmentVariable(FerryEnv.WebBind) is { Length: > 0 } bind ? bind : "127.0.0.1",
                int.TryParse(Environment.GetEnvironmentVariable(FerryEnv.WebPort), out var port) ? port : 8000,
                null);
            try
            {
                webServer = await web.StartAsync(listen, linked.Token).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                await Console.Error.WriteLineAsync($"The web server of '{web.Name}' did not start on port {listen.Port}: {e}").ConfigureAwait(false);
                return ExitCodes.Failure;
            }
        }
        await using var stopWeb = webServer;
        // The control plane may send more inputs than the container runs at once; they wait here and start in order.
        var workers = Enumerable.Range(0, maxInputs).Select(_ => Task.Run(RunInputsOrExitAsync, CancellationToken.None)).ToArray();
        // An input handed over at start runs now; its output waits for the connection.
        if (Environment.GetEnvironmentVariable(FerryEnv.FirstInput) is { Length: > 0 } firstInput
            && JsonSerializer.Deserialize(firstInput, ProtocolJsonContext.Default.ContainerInput) is { } first)
        {
            Enqueue(first);
        }
        WebSocket socket;
        try
        {
            socket = await connecting.ConfigureAwait(false);
        }
        catch (WebSocketException e)
        {
            await Console.Error.WriteLineAsync($"Cannot connect to the Ferry server at {server}: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Disconnected;
        }
        using var owned = socket;
        var messages = new MessageSocket<ContainerMessage, ContainerMessage>(socket, ProtocolJsonContext.Default.ContainerMessage, ProtocolJsonContext.Default.ContainerMessage);
        // A batching container holds a full batch per slot, so the control plane counts its slots in items.
        await messages.SendAsync(new ContainerReady(maxInputs * _batchMaxSize), cancellationToken).ConfigureAwait(false);
        var sender = SendOutputsAsync(messages, linked.Token);
        var exitCode = await ReceiveAsync(messages, linked.Token).ConfigureAwait(false);
        StopInputs();

        // Inputs still queued here were never started; the control plane re-runs or has cancelled them.
        _inputs.Writer.TryComplete();
        while (_inputs.Reader.TryRead(out _))
        {
        }
        await WaitForRunningInputsAsync(workers, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        _outputs.Writer.TryComplete();
        if (cls is not null)
        {
            try
            {
                await cls.ExitCurrentAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                await Console.Error.WriteLineAsync($"The exit hook of '{cls.Name}' failed: {e}").ConfigureAwait(false);
            }
        }
        // Volumes commit after the exit hooks, so what those write is kept too.
        await VolumeMounts.CommitAllAsync(FerryContext.Client, Console.Error, CancellationToken.None).ConfigureAwait(false);
        try
        {
            await sender.ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }
        if (messages.State == WebSocketState.Open)
        {
            try
            {
                using var closeTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await messages.CloseAsync(WebSocketCloseStatus.NormalClosure, "stopped", closeTimeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
            }
        }
        return exitCode;
    }

    private async Task<int> ReceiveAsync(MessageSocket<ContainerMessage, ContainerMessage> messages, CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var message = await messages.ReceiveAsync(cancellationToken).ConfigureAwait(false);
                if (message is null)
                {
                    return ExitCodes.Disconnected;
                }
                switch (message)
                {
                    case InputBatch batch:
                        foreach (var input in batch.Inputs)
                        {
                            Enqueue(input);
                        }
                        break;
                    case CancelInputs cancel:
                        Cancel(cancel.InputIds);
                        break;
                    case StreamCredit credit:
                        WindowOf(credit.InputId)?.Acknowledge(credit.Acknowledged);
                        break;
                    case StopContainer:
                        return ExitCodes.Success;
                }
            }
            return ExitCodes.Success;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ExitCodes.Success;
        }
        catch (WebSocketException)
        {
            return ExitCodes.Disconnected;
        }
    }

    private int _batchMaxSize = 1;
    private TimeSpan _batchWait;

    /// <summary>
    /// <see cref="RunInputsAsync"/>, ending the container should it fail: user code's exceptions are outputs, so a
    /// failure here is the runner's own, and the inputs it holds would otherwise wait for ever. Once the container has
    /// exited the control plane runs them again or fails them, as it does after any crash.
    /// </summary>
    private async Task RunInputsOrExitAsync()
    {
        try
        {
            await RunInputsAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            await Console.Error.WriteLineAsync($"The container's runner failed and the container exits: {e}").ConfigureAwait(false);
            await Console.Error.FlushAsync().ConfigureAwait(false);
            Environment.Exit(ExitCodes.Failure);
        }
    }

    private async Task RunInputsAsync()
    {
        while (await _inputs.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            if (!_inputs.Reader.TryRead(out var input))
            {
                continue;
            }
            if (_batchMaxSize > 1 && app.Functions.TryGetValue(input.Function, out var f) && BatchInvoker(f) is { } invoke)
            {
                await RunBatchAsync(invoke, await GatherBatchAsync(input).ConfigureAwait(false)).ConfigureAwait(false);
            }
            else
            {
                await RunInputAsync(input).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Collects up to the batch size, waiting at most the batch wait for more to arrive.</summary>
    private async Task<List<ContainerInput>> GatherBatchAsync(ContainerInput first)
    {
        var batch = new List<ContainerInput> { first };
        using var deadline = new CancellationTokenSource(_batchWait);
        try
        {
            while (batch.Count < _batchMaxSize)
            {
                if (_inputs.Reader.TryPeek(out var next) && next.Function != first.Function)
                {
                    break;
                }
                if (_inputs.Reader.TryRead(out var item))
                {
                    batch.Add(item);
                    continue;
                }
                if (!await _inputs.Reader.WaitToReadAsync(deadline.Token).ConfigureAwait(false))
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        return batch;
    }

    private static Func<IReadOnlyList<JsonElement>, Task<IReadOnlyList<JsonElement>>>? BatchInvoker(Function function) =>
        function is IBatchable { IsBatched: true } batchable ? batchable.InvokeBatchAsync : null;

    private async Task RunBatchAsync(Func<IReadOnlyList<JsonElement>, Task<IReadOnlyList<JsonElement>>> invokeBatch, List<ContainerInput> gathered)
    {
        // A batched function takes no token: an input cancelled while queued is left out, and one already in a batch
        // runs with it.
        var batch = gathered.Where(input => Start(input) is not null).ToList();
        if (batch.Count == 0)
        {
            return;
        }
        IReadOnlyList<ContainerOutput> outputs;
        try
        {
            var args = new List<JsonElement>(batch.Count);
            foreach (var input in batch)
            {
                args.Add(await ArgumentsOfAsync(input).ConfigureAwait(false));
            }
            var results = await invokeBatch(args).ConfigureAwait(false);
            outputs = [.. batch.Select((input, i) => new ContainerOutput(input.InputId, input.Attempt, true, results[i]))];
        }
        catch (Exception e)
        {
            // One call served the whole batch, so its failure is every input's failure.
            var error = e is System.Reflection.TargetInvocationException { InnerException: { } inner } ? inner : e;
            var remote = ToRemoteError(error);
            outputs = [.. batch.Select(input => new ContainerOutput(input.InputId, input.Attempt, false, Error: remote))];
        }
        await Console.Out.FlushAsync().ConfigureAwait(false);
        foreach (var output in outputs)
        {
            Finish(output.InputId);
            _outputs.Writer.TryWrite(new Outgoing(output));
        }
    }

    private static readonly string[] SdkFrames =
        ["   at Ferry.Hosting.", "   at Ferry.App.", "   at Ferry.Function", "   at Ferry.ClassMethod", "   at Ferry.ClassRegistration", "   at Ferry.Image.", "   at System.Runtime.CompilerServices.", "   at System.Reflection.", "--- End of stack trace"];

    /// <summary>
    /// Hands an enter hook's exception to the control plane, which fails the waiting inputs with it: the caller sees it
    /// once, with the user's frames. Only when the control plane cannot be told does it go to stderr instead.
    /// </summary>
    private static async Task ReportEnterFailureAsync(string className, Exception error, Task<WebSocket> connecting)
    {
        var failure = error is TargetInvocationException { InnerException: { } thrown } ? thrown : error;
        var remote = ToRemoteError(failure);
        remote = remote with { Message = $"The enter hook of '{className}' failed: {remote.Message}", Kind = ErrorKinds.EnterFailed };
        try
        {
            using var socket = await connecting.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            var messages = new MessageSocket<ContainerMessage, ContainerMessage>(socket, ProtocolJsonContext.Default.ContainerMessage, ProtocolJsonContext.Default.ContainerMessage);
            await messages.SendAsync(new ContainerStartFailed(remote), CancellationToken.None).ConfigureAwait(false);
            // The control plane closes the stream once it has taken the report; exiting before that could let the
            // worker's news of the exit overtake it.
            await AwaitCloseAsync(socket).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or TimeoutException or IOException or OperationCanceledException)
        {
            await Console.Error.WriteLineAsync($"{remote.Message}{Environment.NewLine}{remote.StackTrace}").ConfigureAwait(false);
        }
    }

    private static async Task AwaitCloseAsync(WebSocket socket)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var buffer = new byte[1024];
        try
        {
            while (socket.State == WebSocketState.Open && (await socket.ReceiveAsync(buffer, limit.Token).ConfigureAwait(false)).MessageType != WebSocketMessageType.Close)
            {
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
            // The report went out; however the stream ends now, there is nothing more to say on it.
        }
    }

    /// <summary>
    /// An exception and its causes as the caller will see them: type, message and the user's frames, with the chain of
    /// inner exceptions and an <see cref="AggregateException"/>'s children. At most eight levels deep and
    /// <see cref="MaxErrorParts"/> exceptions in all, so that a pathological tree cannot make an output unbounded.
    /// </summary>
    internal static RemoteError ToRemoteError(Exception error)
    {
        var budget = MaxErrorParts;
        return ToRemoteError(error, 0, ref budget);
    }

    private const int MaxErrorParts = 32;

    private static RemoteError ToRemoteError(Exception error, int depth, ref int budget)
    {
        budget--;
        List<RemoteError>? children = null;
        RemoteError? inner = null;
        if (error is AggregateException { InnerExceptions.Count: > 0 } aggregate && depth < 7)
        {
            children = [];
            foreach (var child in aggregate.InnerExceptions)
            {
                if (budget <= 0)
                {
                    break;
                }
                children.Add(ToRemoteError(child, depth + 1, ref budget));
            }
            // An aggregate's inner exception is its first child; the caller takes it from the children, so it is not sent twice.
        }
        else if (error.InnerException is { } cause && depth < 7 && budget > 0)
        {
            inner = ToRemoteError(cause, depth + 1, ref budget);
        }
        return new RemoteError(error.GetType().FullName ?? error.GetType().Name, error.Message, UserFrames(error.StackTrace), Inner: inner, Children: children);
    }

    /// <summary>The remote stack trace without the SDK's own frames, which say nothing about the user's code.</summary>
    internal static string? UserFrames(string? stackTrace) =>
        stackTrace is null
            ? null
            : string.Join(Environment.NewLine, stackTrace.Split(Environment.NewLine).Where(l => !SdkFrames.Any(p => l.StartsWith(p, StringComparison.Ordinal))));

    private static async Task<JsonElement> ArgumentsOfAsync(ContainerInput input)
    {
        if (input.ArgsBlob is { } blob)
        {
            using var document = JsonDocument.Parse(await FerryContext.Client.GetBlobAsync(blob, CancellationToken.None).ConfigureAwait(false));
            return document.RootElement.Clone();
        }
        return input.Args ?? default;
    }

    private async Task RunInputAsync(ContainerInput input)
    {
        if (Start(input) is not { } cancellation)
        {
            return;
        }
        ContainerOutput? output;
        long runTicks = -1;
        try
        {
            var function = app.Functions.TryGetValue(input.Function, out var f)
                ? f
                : throw new InvalidRequestException($"This container does not serve '{input.Function}'.");
            JsonElement args;
            if (input.ArgsBlob is { } blob)
            {
                using var document = JsonDocument.Parse(await FerryContext.Client.GetBlobAsync(blob, cancellation.Token).ConfigureAwait(false));
                args = document.RootElement.Clone();
            }
            else
            {
                args = input.Args ?? default;
            }
            if (function.IsGenerator)
            {
                // A generator's items have gone to the caller by the time it ends; its output carries no result.
                var generator = await function.InvokeAsync(args, cancellation.Token).ConfigureAwait(false);
                await StreamItemsAsync(input, ItemSequences.AsElementsAsync(generator, function.ResultType, function.Name), cancellation.Token).ConfigureAwait(false);
                output = new ContainerOutput(input.InputId, input.Attempt, true);
            }
            else
            {
                var started = Stopwatch.GetTimestamp();
                JsonElement result;
                try
                {
                    result = await function.InvokeJsonAsync(args, cancellation.Token).ConfigureAwait(false);
                }
                finally
                {
                    runTicks = Stopwatch.GetTimestamp() - started;
                }
                // A text is never longer than its UTF-8: a small result is not copied out to text just to be measured.
                var raw = System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(result).Length > ProtocolInfo.InlinePayloadLimit ? result.GetRawText() : null;
                output = raw is not null && raw.Length > ProtocolInfo.InlinePayloadLimit
                    ? new ContainerOutput(input.InputId, input.Attempt, true, ResultBlob: await FerryContext.Client.PutBlobAsync(System.Text.Encoding.UTF8.GetBytes(raw), CancellationToken.None).ConfigureAwait(false))
                    : new ContainerOutput(input.InputId, input.Attempt, true, result);
            }
        }
        catch (Exception e)
        {
            var error = e is System.Reflection.TargetInvocationException { InnerException: { } inner } ? inner : e;
            // A function that gave up because its token was cancelled did not fail: the input was cancelled, or the
            // container is stopping and the control plane decides the input's fate when the container exits.
            output = error is OperationCanceledException && cancellation.IsCancellationRequested
                ? null
                : new ContainerOutput(input.InputId, input.Attempt, false, Error: ToRemoteError(error));
        }
        if (Finish(input.InputId))
        {
            output ??= Cancelled(input);
        }
        await Console.Out.FlushAsync().ConfigureAwait(false);
        if (output is not null)
        {
            _outputs.Writer.TryWrite(new Outgoing(output, RunTicks: runTicks));
        }
    }

    private const int ItemsPerMessage = 256;
    private const int BytesPerMessage = 256 * 1024;

    /// <summary>
    /// Sends a generator's items as it yields them, several to a message when they come faster than they are sent. The
    /// generator is resumed only while the window has room, so a caller that does not read leaves it waiting at its
    /// yield. The end of the items is sent whatever ends the generator, before its output.
    /// </summary>
    private async Task StreamItemsAsync(ContainerInput input, IAsyncEnumerable<JsonElement> items, CancellationToken cancellationToken)
    {
        var window = new ItemWindow();
        lock (_gate)
        {
            _windows[input.InputId] = window;
        }
        var batch = new List<JsonElement>();
        var batchBytes = 0;
        var produced = 0;
        void Flush(bool end)
        {
            if (batch.Count > 0 || end)
            {
                _outputs.Writer.TryWrite(new Outgoing(Items: new StreamItems(input.InputId, input.Attempt, batch.ToArray(), end)));
                batch.Clear();
                batchBytes = 0;
            }
        }
        try
        {
            var enumerator = items.GetAsyncEnumerator(cancellationToken);
            await using (enumerator.ConfigureAwait(false))
            {
                while (true)
                {
                    if (!window.HasRoom)
                    {
                        Flush(end: false);
                        await window.WaitForRoomAsync(cancellationToken).ConfigureAwait(false);
                    }
                    var next = enumerator.MoveNextAsync();
                    if (!next.IsCompleted)
                    {
                        // The generator is waiting for something: what it has yielded goes now, not with the next item.
                        Flush(end: false);
                    }
                    if (!await next.ConfigureAwait(false))
                    {
                        break;
                    }
                    var item = enumerator.Current;
                    var bytes = System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(item).Length;
                    if (bytes > ProtocolInfo.MaxStreamItemBytes)
                    {
                        throw new InvalidRequestException(
                            $"Item {produced} of generator '{input.Function}' is {bytes / (1024 * 1024.0):0.#} MiB of JSON; an item may be at most {ProtocolInfo.MaxStreamItemBytes / (1024 * 1024)} MiB. Yield smaller items, or put large data in a Volume and yield its path.");
                    }
                    batch.Add(item);
                    batchBytes += bytes;
                    produced++;
                    window.Sent(bytes);
                    if (batch.Count >= ItemsPerMessage || batchBytes >= BytesPerMessage)
                    {
                        Flush(end: false);
                    }
                }
            }
        }
        finally
        {
            Flush(end: true);
            lock (_gate)
            {
                _windows.Remove(input.InputId);
            }
        }
    }

    private ItemWindow? WindowOf(long inputId)
    {
        lock (_gate)
        {
            return _windows.GetValueOrDefault(inputId);
        }
    }

    /// <summary>
    /// A message for the control plane, sent in the order written: an input's output, or items of its stream.
    /// <c>RunTicks</c> is how long a function's call ran, in <see cref="Stopwatch"/> ticks; -1 where it was not measured
    /// (a generator, a batch, an input that never started).
    /// </summary>
    private readonly record struct Outgoing(ContainerOutput? Output = null, StreamItems? Items = null, long RunTicks = -1);

    private static ContainerOutput Cancelled(ContainerInput input) =>
        new(input.InputId, input.Attempt, false, Error: new RemoteError("InputCancelled", "The input was cancelled.", null, ErrorKinds.Cancelled));

    /// <summary>Queues an input received from the control plane.</summary>
    private void Enqueue(ContainerInput input)
    {
        lock (_gate)
        {
            _tracked[input.InputId] = new TrackedInput(input);
        }
        _inputs.Writer.TryWrite(input);
    }

    /// <summary>Marks a queued input running and returns its token source; null if it was cancelled while queued.</summary>
    private CancellationTokenSource? Start(ContainerInput input)
    {
        lock (_gate)
        {
            if (!_tracked.TryGetValue(input.InputId, out var tracked))
            {
                return null;
            }
            tracked.Cancellation = new CancellationTokenSource();
            if (_stopping)
            {
                tracked.Cancellation.Cancel();
            }
            return tracked.Cancellation;
        }
    }

    /// <summary>Forgets a finished input; true if the control plane asked to cancel it.</summary>
    private bool Finish(long inputId)
    {
        lock (_gate)
        {
            if (!_tracked.Remove(inputId, out var tracked))
            {
                return false;
            }
            tracked.Cancellation?.Dispose();
            return tracked.CancelRequested;
        }
    }

    /// <summary>
    /// Cancels inputs at the control plane's request. A running input's token is cancelled and the input reports when
    /// it ends, whatever it does with the token; a queued one never starts and is reported cancelled now. Either way
    /// the control plane holds the input's slot until this container reports it.
    /// </summary>
    private void Cancel(IReadOnlyList<long> inputIds)
    {
        lock (_gate)
        {
            foreach (var id in inputIds)
            {
                if (!_tracked.TryGetValue(id, out var tracked))
                {
                    continue;
                }
                if (tracked.Cancellation is { } cancellation)
                {
                    tracked.CancelRequested = true;
                    // CancelAsync runs the token's callbacks (user code) on the thread pool, not on this receive loop.
                    _ = cancellation.CancelAsync();
                }
                else
                {
                    _tracked.Remove(id);
                    _outputs.Writer.TryWrite(new Outgoing(Cancelled(tracked.Input)));
                }
            }
        }
    }

    /// <summary>The container is stopping: cancels the token of every running input and of any that starts from now.</summary>
    private void StopInputs()
    {
        lock (_gate)
        {
            _stopping = true;
            foreach (var tracked in _tracked.Values)
            {
                _ = tracked.Cancellation?.CancelAsync();
            }
        }
    }

    /// <summary>An input this container has received and not finished: queued until it has a token source.</summary>
    private sealed class TrackedInput(ContainerInput input)
    {
        public ContainerInput Input { get; } = input;

        public CancellationTokenSource? Cancellation { get; set; }

        public bool CancelRequested { get; set; }
    }

    private async Task SendOutputsAsync(MessageSocket<ContainerMessage, ContainerMessage> messages, CancellationToken cancellationToken)
    {
        var batch = new List<ContainerOutput>(256);
        while (await _outputs.Reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
        {
            // Outputs that follow one another go in one message; items go as they are, in their place among them.
            StreamItems? items = null;
            // The batch's run time is sent only when every output in it was measured.
            long runTicks = 0;
            while (batch.Count < 256 && items is null && _outputs.Reader.TryRead(out var next))
            {
                if (next.Output is { } output)
                {
                    batch.Add(output);
                    runTicks = runTicks < 0 || next.RunTicks < 0 ? -1 : runTicks + next.RunTicks;
                }
                else
                {
                    items = next.Items;
                }
            }
            if (messages.State != WebSocketState.Open)
            {
                return;
            }
            if (batch.Count > 0)
            {
                await messages.SendAsync(new ContainerOutputBatch(batch.ToArray(), runTicks < 0 ? null : (double)runTicks / Stopwatch.Frequency), CancellationToken.None).ConfigureAwait(false);
                batch.Clear();
            }
            if (items is not null)
            {
                await messages.SendAsync(items, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    private static async Task WaitForRunningInputsAsync(Task[] workers, TimeSpan grace)
    {
        try
        {
            await Task.WhenAll(workers).WaitAsync(grace).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }

    private static void WarmSerializer()
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(new ContainerReady(1), ProtocolJsonContext.Default.ContainerMessage);
        JsonSerializer.Deserialize(bytes, ProtocolJsonContext.Default.ContainerMessage);
    }

    private static string Require(string variable) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value
            ? value
            : throw new FerryException($"The container was started without {variable}.");
}
