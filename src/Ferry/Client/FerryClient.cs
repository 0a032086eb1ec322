using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Ferry.Protocol;
using Ferry.Serialization;

namespace Ferry.Client;

/// <summary>
/// The HTTP client of the control plane's API. Every request the SDK makes is idempotent (callers choose call ids and
/// input indices), so transient failures are retried until <see cref="ReconnectWindow"/> runs out. The retry loop is
/// written here rather than taken from a resilience library because the SDK may depend on nothing but the protocol.
/// </summary>
internal sealed class FerryClient : IDisposable
{
    private static readonly ProtocolJsonContext Json = ProtocolJsonContext.Default;
    private readonly HttpClient _http;
    private readonly bool _ownsHttp = true;

    /// <param name="serverUrl">The control plane.</param>
    /// <param name="token">The credential every request presents: a client token, or a container's own.</param>
    /// <param name="reconnectWindow">How long to keep retrying while the server is unreachable; <paramref name="options"/>' by default.</param>
    /// <param name="fingerprint">The SHA-256 fingerprint of a self-signed server certificate to trust, or null.</param>
    /// <param name="options">Retry, polling and batching settings; <see cref="ClientOptions.Default"/> by default.</param>
    public FerryClient(Uri serverUrl, string? token, TimeSpan? reconnectWindow = null, string? fingerprint = null, ClientOptions? options = null)
    {
        ServerUrl = serverUrl;
        Token = token;
        Fingerprint = fingerprint;
        _http = new HttpClient(Credentials.Handler(fingerprint))
        {
            BaseAddress = serverUrl,
            Timeout = Timeout.InfiniteTimeSpan,
        };
        if (!string.IsNullOrEmpty(token))
        {
            _http.DefaultRequestHeaders.Authorization = Credentials.Header(token);
        }
        Options = options ?? ClientOptions.Default;
        ReconnectWindow = reconnectWindow ?? Options.ReconnectWindow;
    }

    /// <summary>A client of the same server and credential acting for <paramref name="appId"/>, sharing this one's connections.</summary>
    private FerryClient(FerryClient parent, string appId)
    {
        ServerUrl = parent.ServerUrl;
        Token = parent.Token;
        Fingerprint = parent.Fingerprint;
        Options = parent.Options;
        ReconnectWindow = parent.ReconnectWindow;
        _http = parent._http;
        _ownsHttp = false;
        AppId = appId;
    }

    /// <summary>A client acting for <paramref name="appId"/> over this client's connections; disposing it leaves them open.</summary>
    public FerryClient ForApp(string appId) => new(this, appId);

    /// <summary>Retry, polling and batching settings.</summary>
    public ClientOptions Options { get; }

    public Uri ServerUrl { get; }

    /// <summary>The token this client presents.</summary>
    public string? Token { get; }

    /// <summary>The pinned certificate fingerprint, for connections this client's owner opens beside it.</summary>
    public string? Fingerprint { get; }

    /// <summary>How long the client keeps retrying a request while the server is unreachable or restarting.</summary>
    public TimeSpan ReconnectWindow { get; }

    // Calls of one input, by function name: the typed handles, lookups and local entrypoints call in here. Maps and
    // generator streams, which send and read many items per call, are Invocation's.

    public static string NewCallId() => "fc-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));

    // A value task: a map prepares every input, and a small one completes at once, with nothing to allocate.
    public async ValueTask<InputItem> PrepareAsync(int index, JsonElement args, CancellationToken cancellationToken)
    {
        // A text is never longer than its UTF-8: a map's small arguments are not copied out to text just to be measured.
        if (JsonMarshal.GetRawUtf8Value(args).Length <= ProtocolInfo.InlinePayloadLimit)
        {
            return new InputItem(index, args);
        }
        var raw = args.GetRawText();
        if (raw.Length <= ProtocolInfo.InlinePayloadLimit)
        {
            return new InputItem(index, args);
        }
        var hash = await PutBlobAsync(System.Text.Encoding.UTF8.GetBytes(raw), cancellationToken).ConfigureAwait(false);
        return new InputItem(index, ArgsBlob: hash);
    }

    public async Task<TResult> RemoteAsync<TResult>(string function, PoolSpec? pool, JsonElement args, CancellationToken cancellationToken)
    {
        RefuseGenerator<TResult>(function, "RemoteAsync");
        var callId = NewCallId();
        var input = await PrepareAsync(0, args, cancellationToken).ConfigureAwait(false);
        try
        {
            var response = await CreateCallAsync(
                new CreateCallRequest(callId, function, CallKinds.Sync, [input], Final: true, WaitSeconds: Options.PollWait.TotalSeconds, Pool: pool),
                cancellationToken).ConfigureAwait(false);
            var output = response.Outputs is { Outputs.Count: > 0 } batch
                ? batch.Outputs[0]
                : await WaitForOutputAsync(callId, null, cancellationToken).ConfigureAwait(false);
            return await DecodeAsync<TResult>(function, output!, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await CancelQuietlyAsync(callId).ConfigureAwait(false);
            throw;
        }
    }

    public async Task<string> SpawnAsync(string function, PoolSpec? pool, JsonElement args, CancellationToken cancellationToken)
    {
        var callId = NewCallId();
        var input = await PrepareAsync(0, args, cancellationToken).ConfigureAwait(false);
        try
        {
            await CreateCallAsync(new CreateCallRequest(callId, function, CallKinds.Spawn, [input], Final: true, Pool: pool), cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The server may have created the call before the request was abandoned; nobody could reach it by id.
            await CancelQuietlyAsync(callId).ConfigureAwait(false);
            throw;
        }
        return callId;
    }

    public async Task<OutputItem?> WaitForOutputAsync(string callId, TimeSpan? timeout, CancellationToken cancellationToken)
    {
        var deadline = timeout is { } t ? DateTime.UtcNow + t : DateTime.MaxValue;
        while (true)
        {
            var remaining = deadline - DateTime.UtcNow;
            var wait = remaining < Options.PollWait ? remaining : Options.PollWait;
            if (wait < TimeSpan.Zero)
            {
                return null;
            }
            var batch = await GetOutputsAsync(callId, 0, wait, cancellationToken).ConfigureAwait(false);
            if (batch.Outputs.Count > 0)
            {
                return batch.Outputs[0];
            }
            if (timeout is not null && DateTime.UtcNow >= deadline)
            {
                return null;
            }
        }
    }

    // A value task, as PrepareAsync: only a result kept as a blob waits.
    public async ValueTask<TResult> DecodeAsync<TResult>(string function, OutputItem output, CancellationToken cancellationToken)
    {
        if (!output.Success)
        {
            throw ToException(function, output.Error);
        }
        if (output.ResultBlob is { } blob)
        {
            var bytes = await GetBlobAsync(blob, cancellationToken).ConfigureAwait(false);
            using var document = JsonDocument.Parse(bytes);
            return Payload.Read<TResult>(document.RootElement);
        }
        return output.Result is { } result ? Payload.Read<TResult>(result) : default!;
    }

    public static FerryException ToException(string function, RemoteError? error)
    {
        if (error is null)
        {
            return new FerryException($"{function} failed without an error report.");
        }
        return error.Kind switch
        {
            ErrorKinds.Timeout => new FunctionTimeoutException($"{function}: {error.Message}"),
            ErrorKinds.Cancelled => new InputCancelledException($"{function}: {error.Message}"),
            ErrorKinds.OutOfMemory => new ContainerCrashedException($"{function}: {error.Message}", outOfMemory: true),
            ErrorKinds.ImageBuild => new ImageBuildException($"{function}: {error.Message}"),
            ErrorKinds.Unschedulable => new ResourcesUnavailableException($"{function}: {error.Message}"),
            ErrorKinds.Secret => new NotFoundException($"{function}: {error.Message}"),
            ErrorKinds.Crash => new ContainerCrashedException($"{function}: {error.Message}", outOfMemory: false),
            ErrorKinds.Internal => new FerryException($"{function}: {error.Message}"),
            _ => ToRemoteException(function, error),
        };
    }

    private static RemoteException ToRemoteException(string function, RemoteError error)
    {
        var children = error.Children?.Select(child => ToRemoteException(function, child)).ToList();
        var inner = children is { Count: > 0 } ? children[0] : error.Inner is { } cause ? ToRemoteException(function, cause) : null;
        return new RemoteException(function, error.Type, error.Message, error.StackTrace, inner, children);
    }

    /// <summary>Cancels a call the caller gave up on: best effort, bounded, and silent if the server cannot be reached.</summary>
    public async Task CancelQuietlyAsync(string callId)
    {
        try
        {
            using var cts = new CancellationTokenSource(Options.CancelTimeout);
            await CancelCallAsync(callId, cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FerryException or OperationCanceledException or HttpRequestException)
        {
        }
    }

    /// <summary>A generator's items come only through <see cref="Invocation.StreamAsync"/>; other calls to one say so before sending anything.</summary>
    public static void RefuseGenerator<TResult>(string function, string method)
    {
        if (ItemSequences.ItemType(typeof(TResult)) is { } item)
        {
            throw new InvalidRequestException(
                $"'{function}' is a generator (it returns IAsyncEnumerable<{Payload.TypeName(item)}>), so {method} cannot return its items; stream them with `await foreach (var item in {function}.RemoteStreamAsync(...))`.");
        }
    }

    public Task<CreateCallResponse> CreateCallAsync(CreateCallRequest request, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, _callsPath, request, Json.CreateCallRequest, Json.CreateCallResponse, cancellationToken);

    public Task<AddInputsResponse> AddInputsAsync(string callId, AddInputsRequest request, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, Routes.Inputs(callId), request, Json.AddInputsRequest, Json.AddInputsResponse, cancellationToken);

    public Task<OutputBatch> GetOutputsAsync(string callId, long after, TimeSpan wait, CancellationToken cancellationToken) =>
        SendAsync<object, OutputBatch>(HttpMethod.Get, Routes.Outputs(callId, after, wait), null, null, Json.OutputBatch, cancellationToken);

    public Task<ItemBatch> GetStreamItemsAsync(string callId, long after, TimeSpan wait, int limit, CancellationToken cancellationToken) =>
        SendAsync<object, ItemBatch>(HttpMethod.Get, Routes.StreamItems(callId, after, wait, limit), null, null, Json.ItemBatch, cancellationToken);

    public Task<CallStatus> CancelCallAsync(string callId, CancellationToken cancellationToken) =>
        SendAsync<object, CallStatus>(HttpMethod.Post, Routes.CancelCall(callId), null, null, Json.CallStatus, cancellationToken);

    public Task<CallProgress> GetCallProgressAsync(string callId, CancellationToken cancellationToken) =>
        SendAsync<object, CallProgress>(HttpMethod.Get, Routes.CallStats(callId), null, null, Json.CallProgress, cancellationToken);

    public Task<Protocol.FunctionStats> GetStatsAsync(string function, CancellationToken cancellationToken) =>
        SendAsync<object, Protocol.FunctionStats>(HttpMethod.Get, Routes.Stats(AppId, function), null, null, Json.FunctionStats, cancellationToken);

    public Task<Protocol.AutoscalerSettings> UpdateAutoscalerAsync(string function, AutoscalerUpdate update, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, Routes.Autoscaler(AppId, function), update, Json.AutoscalerUpdate, Json.AutoscalerSettings, cancellationToken);

    /// <summary>Publishes the app's definition, after uploading the local files its images add and its local secrets' values.</summary>
    public async Task PublishDefinitionAsync(AppDefinition definition, CancellationToken cancellationToken)
    {
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in definition.Functions.SelectMany(f => f.Settings.Image?.Steps ?? []).SelectMany(s => s.Files ?? []))
        {
            if (Image.FindLocalSource(file.Hash) is { } source)
            {
                files[file.Hash] = source;
            }
        }
        await UploadFilesAsync(files, cancellationToken).ConfigureAwait(false);
        definition = await Secret.UploadLocalAsync(definition, this, cancellationToken).ConfigureAwait(false);
        await SendAsync<AppDefinition, object>(HttpMethod.Put, Routes.Definition(AppId), definition, Json.AppDefinition, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Asks for the server's health, so that a connection is open and the request path is compiled before a request
    /// someone waits for; the answer is not looked at.
    /// </summary>
    public async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync(Routes.Health, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The app this process belongs to, from <see cref="FerryEnv.AppId"/>.</summary>
    public string AppId
    {
        get;
        init
        {
            field = value;
            _callsPath = Routes.Calls(value);
        }
    } = "";

    // Every call of this client goes to its app's calls: the path is made once, with the app, instead of per call.
    private string _callsPath = Routes.Calls("");

    /// <summary>Uploads bytes to the content-addressed blob store and returns their hash.</summary>
    public async Task<string> PutBlobAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(content.Span));
        await RetryAsync(async ct =>
        {
            using var body = new ReadOnlyMemoryContent(content);
            body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using var response = await _http.PutAsync(Routes.Blob(hash), body, ct).ConfigureAwait(false);
            await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
        return hash;
    }

    /// <summary>Uploads the files the server lacks, given by content hash and local path, streaming each one.</summary>
    public async Task<int> UploadFilesAsync(IReadOnlyDictionary<string, string> files, CancellationToken cancellationToken)
    {
        if (files.Count == 0)
        {
            return 0;
        }
        var missing = await SendAsync(HttpMethod.Post, Routes.MissingBlobs, new MissingBlobsRequest([.. files.Keys]),
            Json.MissingBlobsRequest, Json.MissingBlobsResponse, cancellationToken).ConfigureAwait(false);
        foreach (var hash in missing.Missing)
        {
            await RetryAsync(async ct =>
            {
                await using var stream = File.OpenRead(files[hash]);
                using var body = new StreamContent(stream);
                body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                using var response = await _http.PutAsync(Routes.Blob(hash), body, ct).ConfigureAwait(false);
                await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        return missing.Missing.Count;
    }

    /// <summary>
    /// Uploads a program's build directory content-addressed (only the files the server lacks) and registers the build,
    /// whose containers run <paramref name="entryAssembly"/>, a path relative to <paramref name="directory"/>.
    /// </summary>
    public async Task<(string BuildId, int Uploaded, long Bytes)> UploadBuildAsync(string directory, string entryAssembly, CancellationToken cancellationToken)
    {
        var files = new List<(BuildFile File, string FullPath)>();
        foreach (var path in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(directory, path).Replace('\\', '/');
            await using var stream = File.OpenRead(path);
            var hash = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false));
            files.Add((new BuildFile(relative, hash, stream.Length), path));
        }
        var missing = await SendAsync(HttpMethod.Post, Routes.MissingBlobs, new MissingBlobsRequest([.. files.Select(f => f.File.Hash)]),
            Json.MissingBlobsRequest, Json.MissingBlobsResponse, cancellationToken).ConfigureAwait(false);
        var wanted = missing.Missing.ToHashSet(StringComparer.Ordinal);
        var uploads = files.Where(f => wanted.Remove(f.File.Hash)).ToList();
        foreach (var (_, fullPath) in uploads)
        {
            await PutBlobAsync(await File.ReadAllBytesAsync(fullPath, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        }
        var build = await SendAsync(HttpMethod.Post, Routes.Builds, new CreateBuildRequest(entryAssembly, [.. files.Select(f => f.File)]),
            Json.CreateBuildRequest, Json.CreateBuildResponse, cancellationToken).ConfigureAwait(false);
        return (build.BuildId, uploads.Count, uploads.Sum(u => u.File.Size));
    }

    /// <summary>Uploads one file as the blob <paramref name="hash"/>, streamed from disk, reporting bytes sent to <paramref name="progress"/>.</summary>
    public Task UploadFileBlobAsync(string hash, string path, IProgress<long>? progress, CancellationToken cancellationToken) =>
        RetryAsync(async ct =>
        {
            await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan);
            await using var counted = new ProgressStream(file, progress);
            using var body = new StreamContent(counted, 1 << 20);
            body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            body.Headers.ContentLength = file.Length;
            using var response = await _http.PutAsync(Routes.Blob(hash), body, ct).ConfigureAwait(false);
            await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    /// <summary>Sends a GET whose answer is a byte stream; the caller disposes the response, which closes the stream.</summary>
    public Task<HttpResponseMessage> GetStreamAsync(string path, CancellationToken cancellationToken) =>
        RetryAsync(async ct =>
        {
            var response = await _http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            try
            {
                await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
                return response;
            }
            catch
            {
                response.Dispose();
                throw;
            }
        }, cancellationToken);

    public Task<byte[]> GetBlobAsync(string hash, CancellationToken cancellationToken) =>
        RetryAsync(async ct =>
        {
            using var response = await _http.GetAsync(Routes.Blob(hash), ct).ConfigureAwait(false);
            await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
            return await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
        }, cancellationToken);

    internal Task<TResponse> SendAsync<TRequest, TResponse>(
        HttpMethod method,
        string path,
        TRequest? body,
        JsonTypeInfo<TRequest>? requestType,
        JsonTypeInfo<TResponse>? responseType,
        CancellationToken cancellationToken) =>
        RetryAsync(async ct =>
        {
            using var request = new HttpRequestMessage(method, path);
            if (body is not null && requestType is not null)
            {
                request.Content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body, requestType));
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            }
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, ct).ConfigureAwait(false);
            await EnsureSuccessAsync(response, ct).ConfigureAwait(false);
            if (responseType is null)
            {
                return default!;
            }
            var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            return (await JsonSerializer.DeserializeAsync(stream, responseType, ct).ConfigureAwait(false))!;
        }, cancellationToken);

    private async Task<T> RetryAsync<T>(Func<CancellationToken, Task<T>> action, CancellationToken cancellationToken)
    {
        var started = Environment.TickCount64;
        var delay = Options.InitialRetryDelay;
        while (true)
        {
            try
            {
                return await action(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (IsTransient(e) && !cancellationToken.IsCancellationRequested)
            {
                if (Environment.TickCount64 - started > ReconnectWindow.TotalMilliseconds)
                {
                    throw new ConnectionException(
                        $"Cannot reach the Ferry server at {ServerUrl} (gave up after {ReconnectWindow.TotalSeconds:0} s): {e.Message}", e);
                }
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, Options.MaxRetryDelay.TotalMilliseconds));
            }
        }
    }

    private static bool IsTransient(Exception e) => e switch
    {
        TransientServerException => true,
        HttpRequestException { InnerException: SocketException or IOException } => true,
        HttpRequestException { StatusCode: null } => true,
        IOException => true,
        _ => false,
    };

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        var message = text;
        try
        {
            message = JsonSerializer.Deserialize(text, Json.ErrorResponse)?.Message ?? text;
        }
        catch (JsonException)
        {
        }
        throw response.StatusCode switch
        {
            HttpStatusCode.BadRequest => new InvalidRequestException(message),
            HttpStatusCode.NotFound => new NotFoundException(message),
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => new AuthorizationException(message),
            HttpStatusCode.RequestEntityTooLarge => new RequestSizeException(message),
            HttpStatusCode.ServiceUnavailable or HttpStatusCode.BadGateway or HttpStatusCode.GatewayTimeout => new TransientServerException(message),
            _ => new FerryException($"The Ferry server answered {(int)response.StatusCode}: {message}"),
        };
    }

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    private sealed class TransientServerException(string message) : Exception(message);
}
