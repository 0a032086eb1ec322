namespace Ferry.Protocol;

/// <summary>Constants every party on the wire agrees on.</summary>
public static class ProtocolInfo
{
    /// <summary>The route prefix of this protocol version.</summary>
    public const string Prefix = "/v1";

    /// <summary>The version of Ferry that speaks this protocol.</summary>
    public const string Version = "0.1.0";

    /// <summary>Arguments or results larger than this travel through the blob store instead of inline.</summary>
    public const int InlinePayloadLimit = 2 * 1024 * 1024;

    /// <summary>The largest request body the control plane accepts, except for blob uploads.</summary>
    public const long MaxRequestBytes = 16L * 1024 * 1024;

    /// <summary>The largest blob the control plane accepts in one upload.</summary>
    public const long MaxBlobBytes = 1024L * 1024 * 1024;

    /// <summary>
    /// The most items of one generator call that may be in flight: sent by the container and not yet acknowledged by
    /// the caller. A container resumes the generator only while fewer are in flight.
    /// </summary>
    public const int StreamWindowItems = 1024;

    /// <summary>
    /// The most bytes of items of one generator call that may be in flight, as for <see cref="StreamWindowItems"/>; one
    /// item may take it past this by at most its own size.
    /// </summary>
    public const int StreamWindowBytes = 4 * 1024 * 1024;

    /// <summary>The largest single item a generator may yield, as JSON.</summary>
    public const int MaxStreamItemBytes = InlinePayloadLimit;

    /// <summary>The most inputs one request may carry.</summary>
    public const int MaxInputsPerRequest = 10_000;

    /// <summary>The scheme of the <c>Authorization</c> header every caller but <c>/health</c>'s presents its token with.</summary>
    public const string AuthScheme = "Bearer";
}

/// <summary>The environment variables the CLI and the worker use to tell a user program how to run.</summary>
public static class FerryEnv
{
    public const string Mode = "FERRY_MODE";
    public const string ServerUrl = "FERRY_SERVER_URL";
    public const string AppId = "FERRY_APP_ID";
    public const string Entrypoint = "FERRY_ENTRYPOINT";
    public const string ContainerId = "FERRY_CONTAINER_ID";
    public const string ContainerToken = "FERRY_CONTAINER_TOKEN";

    /// <summary>A client token for the CLI and for programs it starts; defaults to the one in <c>$FERRY_HOME/token</c>.</summary>
    public const string Token = "FERRY_TOKEN";

    /// <summary>The SHA-256 fingerprint of a server's self-signed certificate, which clients then trust for that server only.</summary>
    public const string ServerFingerprint = "FERRY_SERVER_FINGERPRINT";
    public const string Function = "FERRY_FUNCTION";
    public const string PoolId = "FERRY_POOL_ID";
    public const string Parameters = "FERRY_PARAMETERS";

    /// <summary>The container's first input as JSON, handed over at start so it need not wait for a round trip.</summary>
    public const string FirstInput = "FERRY_FIRST_INPUT";
    public const string MaxInputs = "FERRY_MAX_INPUTS";
    public const string BatchMaxSize = "FERRY_BATCH_MAX_SIZE";
    public const string BatchWaitMs = "FERRY_BATCH_WAIT_MS";
    public const string DescribeOutput = "FERRY_DESCRIBE_OUTPUT";

    /// <summary>For a web function: the port its server listens on in the container, chosen by the worker.</summary>
    public const string WebPort = "FERRY_WEB_PORT";

    /// <summary>For a web function: the address its server listens on (all interfaces with a network of its own, else loopback).</summary>
    public const string WebBind = "FERRY_WEB_BIND";

    /// <summary>The volumes a container mounts: a JSON array of <see cref="VolumeMountState"/>.</summary>
    public const string Volumes = "FERRY_VOLUMES";

    /// <summary>
    /// For a local program under <c>ferry run</c> on a terminal: the Unix socket on which it announces each map's call
    /// id, one JSON line per map, so the CLI can draw the map's progress. Unset, nothing is announced.
    /// </summary>
    public const string ProgressSocket = "FERRY_PROGRESS_SOCKET";

    /// <summary>
    /// For a local program under <c>ferry run</c>: the Unix socket on which, once it has checked its target and
    /// arguments, it writes <c>ready</c> and reads back the id of the app the CLI then creates for it. A program that
    /// exits first leaves no app behind.
    /// </summary>
    public const string RunSocket = "FERRY_RUN_SOCKET";
}

/// <summary>Values of <see cref="FerryEnv.Mode"/>.</summary>
public static class FerryModes
{
    public const string Describe = "describe";
    public const string Local = "local";
    public const string Container = "container";

    /// <summary>Publishes the app's definition (uploading the files its images add) and exits.</summary>
    public const string Publish = "publish";

    /// <summary>Runs one image build function (<see cref="FerryEnv.Function"/>) inside a build container.</summary>
    public const string ImageBuild = "image-build";
}
