using System.Globalization;
using System.Text;

namespace Ferry.Protocol;

/// <summary>
/// The routes of the HTTP API, spelled once for every party. The control plane maps <see cref="Templates"/> under
/// <see cref="ProtocolInfo.Prefix"/>; the SDK, the CLI, the worker and the tests request the paths the other members
/// build from the same templates. A path is relative to the server's base address (<c>v1/apps/ap-1/calls</c>), so it
/// resolves against an <see cref="HttpClient.BaseAddress"/> as is; prefix <c>/</c> for a rooted one. Every value a
/// path carries is escaped with <see cref="Uri.EscapeDataString(string)"/>.
/// </summary>
public static class Routes
{
    // Declared first: static members are initialized in the order they are written, and the paths below read it.
    private static readonly string Root = ProtocolInfo.Prefix.TrimStart('/');

    /// <summary>
    /// The route templates under <see cref="ProtocolInfo.Prefix"/>, as the control plane maps them. A parameter is
    /// named as the handler's argument that binds it.
    /// </summary>
    public static class Templates
    {
        public const string Health = "/health";
        public const string MissingBlobs = "/blobs/missing";
        public const string Blob = "/blobs/{hash}";
        public const string Builds = "/builds";
        public const string Build = "/builds/{id}";
        public const string Apps = "/apps";
        public const string App = "/apps/{app}";
        public const string Definition = "/apps/{app}/definition";
        public const string StopApp = "/apps/{app}/stop";
        public const string AppLogs = "/apps/{app}/logs";
        public const string Shell = "/apps/{app}/shell";
        public const string Calls = "/apps/{app}/calls";
        public const string Call = "/calls/{id}";
        public const string Inputs = "/calls/{id}/inputs";
        public const string Outputs = "/calls/{id}/outputs";
        public const string CancelCall = "/calls/{id}/cancel";
        public const string CallStats = "/calls/{id}/stats";
        public const string StreamItems = "/calls/{id}/items";
        public const string Stats = "/apps/{app}/functions/{function}/stats";
        public const string Autoscaler = "/apps/{app}/functions/{function}/autoscaler";
        public const string Containers = "/containers";
        public const string StopContainer = "/containers/{id}/stop";
        public const string ContainerStream = "/containers/{id}/stream";
        public const string ContainerLogs = "/containers/{id}/logs";
        public const string Exec = "/containers/{id}/exec";
        public const string WorkerSession = "/workers/sessions/{id}";
        public const string WorkerStream = "/workers/stream";
        public const string Images = "/images";
        public const string Tokens = "/tokens";
        public const string RevokeToken = "/tokens/{id}/revoke";
        public const string GatewayRoute = "/gateway/routes/{label}";
        public const string GatewaySlots = "/gateway/slots";
        public const string GatewaySync = "/gateway/sync";
        public const string GatewayProxyToken = "/gateway/proxy-token";
        public const string Secrets = "/secrets";
        public const string Secret = "/secrets/{name}";
        public const string Dicts = "/dicts";
        public const string Dict = "/dicts/{name}";
        public const string DictGet = "/dicts/{name}/get";
        public const string DictContains = "/dicts/{name}/contains";
        public const string DictPut = "/dicts/{name}/put";
        public const string DictPop = "/dicts/{name}/pop";
        public const string DictItems = "/dicts/{name}/items";
        public const string DictCount = "/dicts/{name}/count";
        public const string DictClear = "/dicts/{name}/clear";
        public const string Volumes = "/volumes";
        public const string Volume = "/volumes/{name}";
        public const string VolumeManifest = "/volumes/{name}/manifest";
        public const string VolumeCommit = "/volumes/{name}/commit";
        public const string VolumeFiles = "/volumes/{name}/files";
        public const string VolumeFile = "/volumes/{name}/file";
        public const string Queues = "/queues";
        public const string Queue = "/queues/{name}";
        public const string QueuePut = "/queues/{name}/put";
        public const string QueueGet = "/queues/{name}/get";
        public const string QueueItems = "/queues/{name}/items";
        public const string QueueLen = "/queues/{name}/len";
        public const string QueueClear = "/queues/{name}/clear";
        public const string Deployments = "/deployments";
        public const string AppHistory = "/apps/{app}/history";
        public const string Rollback = "/apps/{app}/rollback";
        public const string Heartbeat = "/apps/{app}/heartbeat";
        public const string Schedules = "/schedules";
    }

    /// <summary><c>GET</c>: whether the server is up, and its version; the one route that needs no token.</summary>
    public static string Health { get; } = Path(Templates.Health);

    /// <summary><c>POST</c>: which of some blobs the server lacks.</summary>
    public static string MissingBlobs { get; } = Path(Templates.MissingBlobs);

    /// <summary><c>PUT</c> uploads, <c>GET</c> downloads the blob with a SHA-256 <paramref name="hash"/>.</summary>
    public static string Blob(string hash) => Path(Templates.Blob, hash);

    /// <summary><c>POST</c>: creates a build from uploaded files.</summary>
    public static string Builds { get; } = Path(Templates.Builds);

    /// <summary><c>GET</c>: a build's manifest.</summary>
    public static string Build(string buildId) => Path(Templates.Build, buildId);

    /// <summary><c>POST</c> creates an app, <c>GET</c> lists them.</summary>
    public static string Apps { get; } = Path(Templates.Apps);

    /// <summary><c>GET</c>: an app, by id or by name.</summary>
    public static string App(string app) => Path(Templates.App, app);

    /// <summary><c>PUT</c>: publishes an app's definition.</summary>
    public static string Definition(string app) => Path(Templates.Definition, app);

    /// <summary><c>POST</c>: stops an app.</summary>
    public static string StopApp(string app) => Path(Templates.StopApp, app);

    /// <summary><c>GET</c>: an app's log, a long poll.</summary>
    public static string AppLogs(string app) => Path(Templates.AppLogs, app);

    /// <summary><see cref="AppLogs(string)"/> after the cursor <paramref name="after"/>, waiting up to <paramref name="wait"/> (the server's default if null).</summary>
    public static string AppLogs(string app, long after, TimeSpan? wait = null) => AppLogs(app) + Query(after, wait, null);

    /// <summary><c>GET</c>, a WebSocket: a session in a new container of one of the app's functions.</summary>
    public static string Shell(string app) => Path(Templates.Shell, app);

    /// <summary><c>POST</c>: starts a call.</summary>
    public static string Calls(string app) => Path(Templates.Calls, app);

    /// <summary><c>GET</c>: a call's status.</summary>
    public static string Call(string callId) => Path(Templates.Call, callId);

    /// <summary><c>POST</c>: adds inputs to a call.</summary>
    public static string Inputs(string callId) => Path(Templates.Inputs, callId);

    /// <summary><c>GET</c>: a call's outputs, a long poll.</summary>
    public static string Outputs(string callId) => Path(Templates.Outputs, callId);

    /// <summary>
    /// <see cref="Outputs(string)"/> after the cursor <paramref name="after"/>, waiting up to <paramref name="wait"/>
    /// and answering at most <paramref name="limit"/> outputs (the server's defaults where null).
    /// </summary>
    public static string Outputs(string callId, long after, TimeSpan? wait = null, int? limit = null) => Outputs(callId) + Query(after, wait, limit);

    /// <summary><c>GET</c>: the items of a generator call, a long poll.</summary>
    public static string StreamItems(string callId) => Path(Templates.StreamItems, callId);

    /// <summary>
    /// <see cref="StreamItems(string)"/> after the cursor <paramref name="after"/> (acknowledging the items before it),
    /// waiting up to <paramref name="wait"/> and answering at most <paramref name="limit"/> items (the server's defaults
    /// where null).
    /// </summary>
    public static string StreamItems(string callId, long after, TimeSpan? wait = null, int? limit = null) => StreamItems(callId) + Query(after, wait, limit);

    /// <summary><c>POST</c>: cancels a call.</summary>
    public static string CancelCall(string callId) => Path(Templates.CancelCall, callId);

    /// <summary><c>GET</c>: how many of a call's inputs succeeded, failed and are pending.</summary>
    public static string CallStats(string callId) => Path(Templates.CallStats, callId);

    /// <summary><c>GET</c> the stats of a function's default pool; <c>POST</c> those of the pool a body names.</summary>
    public static string Stats(string app, string function) => Path(Templates.Stats, app, function);

    /// <summary><c>POST</c>: changes a function pool's autoscaler.</summary>
    public static string Autoscaler(string app, string function) => Path(Templates.Autoscaler, app, function);

    /// <summary><c>GET</c>: the containers, of one app (by id or name) or of all if <paramref name="app"/> is null.</summary>
    public static string Containers(string? app = null) =>
        app is null ? Path(Templates.Containers) : Path(Templates.Containers) + "?app=" + Uri.EscapeDataString(app);

    /// <summary><c>POST</c>: stops a container.</summary>
    public static string StopContainer(string containerId) => Path(Templates.StopContainer, containerId);

    /// <summary><c>GET</c>, a WebSocket: a container's own stream of inputs and outputs.</summary>
    public static string ContainerStream(string containerId) => Path(Templates.ContainerStream, containerId);

    /// <summary><c>GET</c>: one container's lines of its app's log, a long poll.</summary>
    public static string ContainerLogs(string containerId) => Path(Templates.ContainerLogs, containerId);

    /// <summary><see cref="ContainerLogs(string)"/> after the cursor <paramref name="after"/>, waiting up to <paramref name="wait"/> (the server's default if null).</summary>
    public static string ContainerLogs(string containerId, long after, TimeSpan? wait = null) => ContainerLogs(containerId) + Query(after, wait, null);

    /// <summary><c>GET</c>, a WebSocket: a session running a command in a container.</summary>
    public static string Exec(string containerId) => Path(Templates.Exec, containerId);

    /// <summary><c>GET</c>, a WebSocket: the worker's end of a session.</summary>
    public static string WorkerSession(string sessionId) => Path(Templates.WorkerSession, sessionId);

    /// <summary><c>GET</c>, a WebSocket: a worker's stream of commands and events.</summary>
    public static string WorkerStream { get; } = Path(Templates.WorkerStream);

    /// <summary><c>GET</c>: the images the workers have built.</summary>
    public static string Images { get; } = Path(Templates.Images);

    /// <summary><c>POST</c> creates a token, <c>GET</c> lists them.</summary>
    public static string Tokens { get; } = Path(Templates.Tokens);

    /// <summary><c>POST</c>: revokes a token.</summary>
    public static string RevokeToken(string tokenId) => Path(Templates.RevokeToken, tokenId);

    /// <summary>A web endpoint's route, by label, for a standalone gateway.</summary>
    public static string GatewayRoute(string label) => Path(Templates.GatewayRoute, label);

    /// <summary>Where a standalone gateway leases container slots.</summary>
    public static string GatewaySlots { get; } = Path(Templates.GatewaySlots);

    /// <summary>Where a standalone gateway renews and releases its leases.</summary>
    public static string GatewaySync { get; } = Path(Templates.GatewaySync);

    /// <summary>Where a standalone gateway checks a caller's proxy token.</summary>
    public static string GatewayProxyToken { get; } = Path(Templates.GatewayProxyToken);

    /// <summary><c>POST</c> creates a secret, <c>GET</c> lists them (names and keys, never values).</summary>
    public static string Secrets { get; } = Path(Templates.Secrets);

    /// <summary><c>DELETE</c>: deletes a secret.</summary>
    public static string Secret(string name) => Path(Templates.Secret, name);

    /// <summary><c>POST</c> creates a dict, <c>GET</c> lists them.</summary>
    public static string Dicts { get; } = Path(Templates.Dicts);

    /// <summary><c>GET</c> a dict (404 if missing), <c>DELETE</c> deletes it.</summary>
    public static string Dict(string name) => Path(Templates.Dict, name);

    /// <summary><c>POST</c>: one key's value.</summary>
    public static string DictGet(string name) => Path(Templates.DictGet, name);

    /// <summary><c>POST</c>: whether a key is present.</summary>
    public static string DictContains(string name) => Path(Templates.DictContains, name);

    /// <summary><c>POST</c>: writes entries.</summary>
    public static string DictPut(string name) => Path(Templates.DictPut, name);

    /// <summary><c>POST</c>: removes a key and answers its value.</summary>
    public static string DictPop(string name) => Path(Templates.DictPop, name);

    /// <summary><c>GET</c>: a page of entries in key order after the cursor <paramref name="after"/>.</summary>
    public static string DictItems(string name, string? after = null, int? limit = null) =>
        Path(Templates.DictItems, name) + "?limit=" + (limit ?? 1000).ToString(CultureInfo.InvariantCulture) + (after is null ? "" : "&after=" + Uri.EscapeDataString(after));

    /// <summary><c>GET</c>: how many entries a dict has.</summary>
    public static string DictCount(string name) => Path(Templates.DictCount, name);

    /// <summary><c>POST</c>: removes every entry.</summary>
    public static string DictClear(string name) => Path(Templates.DictClear, name);

    /// <summary><c>POST</c> creates a volume, <c>GET</c> lists them.</summary>
    public static string Volumes { get; } = Path(Templates.Volumes);

    /// <summary><c>GET</c> a volume (404 if missing), <c>DELETE</c> deletes it.</summary>
    public static string Volume(string name) => Path(Templates.Volume, name);

    /// <summary><c>GET</c>: a volume's whole manifest at its current version.</summary>
    public static string VolumeManifest(string name) => Path(Templates.VolumeManifest, name);

    /// <summary><c>POST</c>: publishes changed and removed files as a new version.</summary>
    public static string VolumeCommit(string name) => Path(Templates.VolumeCommit, name);

    /// <summary><c>GET</c> lists the entries under <paramref name="path"/>; <c>DELETE</c> removes them (a directory only with <paramref name="recursive"/>).</summary>
    public static string VolumeFiles(string name, string path, bool recursive = false) =>
        Path(Templates.VolumeFiles, name) + "?path=" + Uri.EscapeDataString(path) + (recursive ? "&recursive=true" : "");

    /// <summary><c>GET</c>: one file's content.</summary>
    public static string VolumeFile(string name, string path) => Path(Templates.VolumeFile, name) + "?path=" + Uri.EscapeDataString(path);

    /// <summary><c>POST</c> creates a queue, <c>GET</c> lists them.</summary>
    public static string Queues { get; } = Path(Templates.Queues);

    /// <summary><c>GET</c> a queue (404 if missing), <c>DELETE</c> deletes it.</summary>
    public static string Queue(string name) => Path(Templates.Queue, name);

    /// <summary><c>POST</c>: puts values, waiting for room.</summary>
    public static string QueuePut(string name) => Path(Templates.QueuePut, name);

    /// <summary><c>POST</c>: takes values, waiting for one.</summary>
    public static string QueueGet(string name) => Path(Templates.QueueGet, name);

    /// <summary><c>GET</c>: a partition's items after a cursor, without taking them, waiting up to <paramref name="wait"/> for one.</summary>
    public static string QueueItems(string name, long after, int limit, string? partition = null, TimeSpan? wait = null) =>
        Path(Templates.QueueItems, name) + "?after=" + after.ToString(CultureInfo.InvariantCulture) + "&limit=" + limit.ToString(CultureInfo.InvariantCulture)
        + (partition is null ? "" : "&partition=" + Uri.EscapeDataString(partition))
        + (wait is { } seconds ? "&wait=" + seconds.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) : "");

    /// <summary><c>GET</c>: how many items a partition (or with <paramref name="total"/>, the whole queue) holds.</summary>
    public static string QueueLen(string name, string? partition = null, bool total = false) =>
        Path(Templates.QueueLen, name) + (total ? "?total=true" : partition is null ? "" : "?partition=" + Uri.EscapeDataString(partition));

    /// <summary><c>POST</c>: clears a partition, or all of them.</summary>
    public static string QueueClear(string name) => Path(Templates.QueueClear, name);

    /// <summary><c>POST</c>: deploys the next version of an app.</summary>
    public static string Deployments { get; } = Path(Templates.Deployments);

    /// <summary><c>GET</c>: a deployed app's versions.</summary>
    public static string AppHistory(string app) => Path(Templates.AppHistory, app);

    /// <summary><c>POST</c>: makes an earlier version of a deployed app current.</summary>
    public static string Rollback(string app) => Path(Templates.Rollback, app);

    /// <summary><c>POST</c>: keeps an ephemeral app alive while its client runs.</summary>
    public static string Heartbeat(string app) => Path(Templates.Heartbeat, app);

    /// <summary><c>GET</c>: the schedules of the deployed apps.</summary>
    public static string Schedules { get; } = Path(Templates.Schedules);

    /// <summary>Fills the template's parameters, in order, with <paramref name="values"/>, each escaped.</summary>
    private static string Path(string template, params ReadOnlySpan<string> values)
    {
        var path = new StringBuilder(Root, Root.Length + template.Length + 32);
        var next = 0;
        var start = 0;
        for (var open = template.IndexOf('{'); open >= 0; open = template.IndexOf('{', start))
        {
            path.Append(template, start, open - start).Append(Uri.EscapeDataString(values[next++]));
            start = template.IndexOf('}', open) + 1;
        }
        return next == values.Length
            ? path.Append(template, start, template.Length - start).ToString()
            : throw new ArgumentException($"The route '{template}' takes {next} values, not {values.Length}.", nameof(values));
    }

    /// <summary>A long poll's query, in the invariant culture the server reads numbers in.</summary>
    private static string Query(long after, TimeSpan? wait, int? limit)
    {
        var query = new StringBuilder("?after=").Append(after.ToString(CultureInfo.InvariantCulture));
        if (wait is { } seconds)
        {
            query.Append("&wait=").Append(seconds.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture));
        }
        if (limit is { } most)
        {
            query.Append("&limit=").Append(most.ToString(CultureInfo.InvariantCulture));
        }
        return query.ToString();
    }
}
