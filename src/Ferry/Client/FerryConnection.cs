using System.Text.Json;
using Ferry.Client;
using Ferry.Protocol;

namespace Ferry;

/// <summary>
/// Where a program reaches a Ferry server, and with what credential. An <see cref="App"/> made without one uses the
/// environment's (<see cref="FromEnvironment"/>); pass one to run or call apps on a server of your choosing:
/// <c>new App("jobs", connection: new FerryConnection(new Uri("https://ferry.example:7325"), token))</c>.
/// A connection holds pooled HTTP connections: make one per server and dispose it when the program is done with it.
/// </summary>
public sealed class FerryConnection : IDisposable
{
    private readonly FerryClient _client;

    /// <summary>Creates a connection to the server at <paramref name="serverUrl"/>.</summary>
    /// <param name="serverUrl">The control plane, such as <c>http://127.0.0.1:7325</c>.</param>
    /// <param name="token">The client token to present (<c>ferry token create</c>); null for none.</param>
    /// <param name="serverFingerprint">The SHA-256 fingerprint of a self-signed server certificate to trust; null to trust the system's roots.</param>
    /// <param name="options">Retries, long-poll waits and map batching. Default: <see cref="ClientOptions.Default"/>.</param>
    /// <exception cref="ArgumentException">The URL is not an absolute http or https URL, or an option is out of range.</exception>
    public FerryConnection(Uri serverUrl, string? token = null, string? serverFingerprint = null, ClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(serverUrl);
        if (!serverUrl.IsAbsoluteUri || serverUrl.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"'{serverUrl}' is not a Ferry server URL; write it like http://127.0.0.1:7325.", nameof(serverUrl));
        }
        Options = options ?? ClientOptions.Default;
        Options.Validate();
        ServerUrl = serverUrl.AbsoluteUri.EndsWith('/') ? serverUrl : new Uri(serverUrl.AbsoluteUri + "/");
        ServerFingerprint = string.IsNullOrWhiteSpace(serverFingerprint) ? null : serverFingerprint.Trim();
        _client = new FerryClient(ServerUrl, string.IsNullOrWhiteSpace(token) ? null : token.Trim(), fingerprint: ServerFingerprint, options: Options);
    }

    /// <summary>The control plane's URL.</summary>
    public Uri ServerUrl { get; }

    /// <summary>The pinned certificate fingerprint, or null.</summary>
    public string? ServerFingerprint { get; }

    /// <summary>The retry, polling and batching settings requests use.</summary>
    public ClientOptions Options { get; }

    /// <summary>The client of the server itself, for requests that name no app.</summary>
    internal FerryClient Client => _client;

    /// <summary>
    /// The connection the environment describes: <c>$FERRY_SERVER_URL</c>, else the local server <c>ferry server</c>
    /// or <c>ferry run</c> started (recorded in <c>$FERRY_HOME</c>, by default <c>~/.ferry</c>); the token from
    /// <c>$FERRY_TOKEN</c>, else <c>$FERRY_HOME/token</c>; the fingerprint from <c>$FERRY_SERVER_FINGERPRINT</c>.
    /// </summary>
    /// <exception cref="FerryException">The environment names no server and no local server is recorded.</exception>
    public static FerryConnection FromEnvironment(ClientOptions? options = null) =>
        TryFromEnvironment(options) ?? throw new FerryException(
            $"No Ferry server is configured: set ${FerryEnv.ServerUrl}, start a local one with `ferry server`, or pass a {nameof(FerryConnection)}.");

    internal static FerryConnection? TryFromEnvironment(ClientOptions? options = null)
    {
        var url = Environment.GetEnvironmentVariable(FerryEnv.ServerUrl) is { Length: > 0 } fromEnvironment ? fromEnvironment : LocalServerUrl();
        if (url is null || !Uri.TryCreate(url, UriKind.Absolute, out var parsed))
        {
            return null;
        }
        return new FerryConnection(parsed, Token(), Environment.GetEnvironmentVariable(FerryEnv.ServerFingerprint), options);
    }

    /// <summary><c>$FERRY_HOME</c>, or <c>~/.ferry</c>: where the CLI and a local server keep their state.</summary>
    internal static string Home => Environment.GetEnvironmentVariable("FERRY_HOME") is { Length: > 0 } home
        ? Path.GetFullPath(home)
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".ferry");

    private static string? Token()
    {
        // A container acts with its own token, which reaches only its own app.
        var variable = Environment.GetEnvironmentVariable(FerryEnv.Mode) == FerryModes.Container ? FerryEnv.ContainerToken : FerryEnv.Token;
        if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } token)
        {
            return token;
        }
        try
        {
            return File.ReadAllText(Path.Combine(Home, "token")).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? LocalServerUrl()
    {
        try
        {
            using var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(Home, "server.json")));
            return state.RootElement.TryGetProperty("Url", out var url) && url.ValueKind == JsonValueKind.String ? url.GetString() : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    /// <summary>Closes the connection's pooled HTTP connections.</summary>
    public void Dispose() => _client.Dispose();
}
