using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ferry.Protocol;

/// <summary>An error body. Every non-success response of the API carries one.</summary>
public sealed record ErrorResponse(string Error, string Message);

/// <summary>Error codes in <see cref="ErrorResponse.Error"/>.</summary>
public static class ErrorCodes
{
    public const string InvalidRequest = "invalid_request";
    public const string NotFound = "not_found";
    public const string PayloadTooLarge = "payload_too_large";
    public const string Conflict = "conflict";
    public const string Internal = "internal";

    /// <summary>The request carried no token, or one the server does not accept.</summary>
    public const string Unauthorized = "unauthorized";

    /// <summary>The token is valid but does not allow this request.</summary>
    public const string Forbidden = "forbidden";

    /// <summary>What the request is about is moving between server replicas; retry shortly.</summary>
    public const string Unavailable = "unavailable";
}

public sealed record BuildFile(string Path, string Hash, long Size);

public sealed record CreateBuildRequest(string EntryAssembly, IReadOnlyList<BuildFile> Files);

public sealed record CreateBuildResponse(string BuildId);

public sealed record MissingBlobsRequest(IReadOnlyList<string> Hashes);

public sealed record MissingBlobsResponse(IReadOnlyList<string> Missing);

public sealed record BuildManifest(string BuildId, string EntryAssembly, IReadOnlyList<BuildFile> Files);

public sealed record CreateAppRequest(string Name, string? BuildId = null, bool Detached = false, AppDefinition? Definition = null);

public sealed record CreateAppResponse(string AppId);

/// <summary>An app as listed.</summary>
/// <param name="AppId">The app's id (one per version of a deployed app).</param>
/// <param name="Name">The app's name.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="Functions">How many functions it defines.</param>
/// <param name="Containers">How many containers it has now.</param>
/// <param name="StoppedAt">When it stopped, or null.</param>
/// <param name="State"><c>running</c> (ephemeral: it lives while its client does), <c>deployed</c>, <c>draining</c> (a replaced version finishing its inputs) or <c>stopped</c>.</param>
/// <param name="Version">For a version of a deployed app, its number; null for an ephemeral app.</param>
/// <param name="WebUrls">The URLs of its web endpoints at the gateway, or null.</param>
public sealed record AppSummary(string AppId, string Name, string State, DateTimeOffset CreatedAt, int Functions, int Containers, DateTimeOffset? StoppedAt = null, int? Version = null, IReadOnlyList<string>? WebUrls = null);

public sealed record AppList(IReadOnlyList<AppSummary> Apps);

/// <summary>One input of a call: the positional arguments as a JSON array, inline or in a blob.</summary>
[JsonConverter(typeof(InputItemConverter))]
public sealed record InputItem(int Index, JsonElement? Args = null, string? ArgsBlob = null);

/// <summary>Selects the pool of a function: a class's parameters and any option overrides.</summary>
public sealed record PoolSpec(JsonElement? Parameters = null, FunctionSettings? Overrides = null);

/// <summary>Starts a call. The caller chooses <paramref name="CallId"/> so that retrying the request is safe.</summary>
public sealed record CreateCallRequest(
    string CallId,
    string Function,
    string Kind,
    IReadOnlyList<InputItem> Inputs,
    bool Final,
    double WaitSeconds = 0,
    PoolSpec? Pool = null);

/// <summary>Values of <see cref="CreateCallRequest.Kind"/>.</summary>
public static class CallKinds
{
    public const string Sync = "sync";
    public const string Spawn = "spawn";
    public const string Map = "map";

    /// <summary>
    /// One input of a generator function, whose items the caller reads from <see cref="Routes.StreamItems(string)"/>
    /// while it runs. Such a call is never retried: its items would repeat.
    /// </summary>
    public const string Stream = "stream";
}

public sealed record CreateCallResponse(string CallId, OutputBatch? Outputs = null);

public sealed record AddInputsRequest(IReadOnlyList<InputItem> Inputs, bool Final);

public sealed record AddInputsResponse(int Accepted);

/// <summary>
/// A remote exception as the caller sees it: the exception that caused it, if any, in <paramref name="Inner"/>, or, for
/// an exception with several causes (an <see cref="AggregateException"/>), all of them in <paramref name="Children"/>.
/// </summary>
public sealed record RemoteError(
    string Type,
    string Message,
    string? StackTrace = null,
    string Kind = ErrorKinds.User,
    RemoteError? Inner = null,
    IReadOnlyList<RemoteError>? Children = null);

/// <summary>Values of <see cref="RemoteError.Kind"/>.</summary>
public static class ErrorKinds
{
    public const string User = "user";
    public const string Timeout = "timeout";
    public const string Crash = "crash";
    public const string OutOfMemory = "oom";
    public const string Cancelled = "cancelled";
    public const string Internal = "internal";

    /// <summary>The function's image could not be built; the message carries the failing step's output.</summary>
    public const string ImageBuild = "image_build";

    /// <summary>A class's enter hook threw: its containers cannot serve, and the error is the user's.</summary>
    public const string EnterFailed = "enter_failed";

    /// <summary>No connected worker could ever run the function: it asks for more CPU, memory or GPUs than any has.</summary>
    public const string Unschedulable = "unschedulable";

    /// <summary>A secret the function attaches, or one of its required keys, is missing; the message names it, never a value.</summary>
    public const string Secret = "secret";
}

/// <summary>The outcome of one input.</summary>
[JsonConverter(typeof(OutputItemConverter))]
public sealed record OutputItem(int Index, bool Success, JsonElement? Result = null, string? ResultBlob = null, RemoteError? Error = null, long Cursor = 0);

/// <summary>
/// Items of a generator call after a cursor. Reading after <c>n</c> acknowledges the items before <c>n</c>, which frees
/// their room in the stream's window.
/// </summary>
/// <param name="Items">The items, in the order the generator yielded them.</param>
/// <param name="Next">The cursor to read after next: the number of items before it.</param>
/// <param name="Ended">The generator has finished (returned or thrown) and every item is in this or an earlier batch; the call's outcome is its output. A batch that carries items never says so: the read after it, which acknowledges them, does.</param>
public sealed record ItemBatch(IReadOnlyList<JsonElement> Items, long Next, bool Ended);

/// <summary>Outputs after a cursor. <see cref="Done"/> is true once every input of a final call has an output.</summary>
public sealed record OutputBatch(IReadOnlyList<OutputItem> Outputs, long Next, bool Done, int Total);

public sealed record CallStatus(string CallId, string Function, string State, int Total, int Completed, bool Final);

/// <summary>The outcomes of a call's inputs so far. <see cref="Final"/> is true once the caller has sent every input.</summary>
public sealed record CallProgress(string CallId, int Total, int Succeeded, int Failed, bool Final);

/// <summary>
/// What a local program sends on <see cref="FerryEnv.ProgressSocket"/> when it starts a map: the call whose
/// <see cref="CallProgress"/> the CLI then follows. <paramref name="Kind"/> is a <see cref="CallKinds"/> value.
/// </summary>
public sealed record MapStarted(string CallId, string Function, string Kind);

public sealed record FunctionStats(int Backlog, int Containers, int RunningInputs, int IdleContainers);

public sealed record AutoscalerUpdate(int? MinContainers = null, int? MaxContainers = null, int? BufferContainers = null, double? ScaledownWindowSeconds = null, PoolSpec? Pool = null);

public sealed record HealthResponse(string Status, string Version);

public sealed record AutoscalerSettings(int MinContainers, int BufferContainers, double ScaledownWindowSeconds, int? MaxContainers = null);

/// <summary>One line a container wrote, or an event the platform reports.</summary>
public sealed record LogEntry(long Seq, DateTimeOffset Time, string Stream, string Text, string? Function = null, string? ContainerId = null);

/// <summary>Values of <see cref="LogEntry.Stream"/>.</summary>
public static class LogStreams
{
    public const string Stdout = "stdout";
    public const string Stderr = "stderr";
    public const string System = "system";
}

public sealed record LogBatch(IReadOnlyList<LogEntry> Entries, long Next, bool AppStopped);

public sealed record ContainerSummary(string ContainerId, string AppId, string Function, string WorkerId, string State, DateTimeOffset StartedAt, int RunningInputs);

public sealed record ContainerList(IReadOnlyList<ContainerSummary> Containers);

/// <summary>An image as the registry knows it: on which worker it is, what it is made of, and how often it was built.</summary>
public sealed record ImageSummary(
    string ImageId,
    string WorkerId,
    int Layers,
    IReadOnlyList<string> Steps,
    DateTimeOffset FirstBuiltAt,
    DateTimeOffset LastUsedAt,
    int Builds,
    double LastBuildSeconds);

public sealed record ImageList(IReadOnlyList<ImageSummary> Images);

/// <summary>Values of <see cref="TokenSummary.Kind"/>.</summary>
public static class TokenKinds
{
    /// <summary>People and programs: every route of the API.</summary>
    public const string Client = "client";

    /// <summary>A worker agent: joins the cluster as one worker, whose identity is bound to this token.</summary>
    public const string Worker = "worker";

    /// <summary>A caller of web endpoints that require auth: no route of the API.</summary>
    public const string Proxy = "proxy";

    /// <summary>
    /// A standalone web gateway (<c>ferry gateway</c>): resolves labels, leases container slots and checks proxy
    /// tokens, and no other route of the API.
    /// </summary>
    public const string Gateway = "gateway";
}

/// <summary>Creates a token; its secret is shown once, in the response.</summary>
public sealed record CreateTokenRequest(string Name, string Kind = TokenKinds.Client);

/// <summary>A token as listings show it: never its secret.</summary>
public sealed record TokenSummary(string TokenId, string Name, string Kind, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt = null);

/// <summary>A new token and the only copy of its secret, <c>TOKEN_ID.SECRET</c>.</summary>
public sealed record CreateTokenResponse(TokenSummary Token, string Secret);

public sealed record TokenList(IReadOnlyList<TokenSummary> Tokens);
