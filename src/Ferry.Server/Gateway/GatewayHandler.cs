using System.Net;
using Ferry.Protocol;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;
using BadHttpRequestException = Microsoft.AspNetCore.Http.BadHttpRequestException;

namespace Ferry.Server.Gateway;

/// <summary>
/// One request through the gateway: route, authenticate, lease a container slot, forward with YARP, release. Expected
/// failures (unknown label, no token, no container in time, a container that fails mid-request) are answered here
/// with a status, a message naming the cause and a correlation id; none surfaces as an unhandled 500.
/// </summary>
internal sealed partial class GatewayHandler(
    IHttpForwarder forwarder, IGatewayBackend backend, GatewayOptions options, ILogger<GatewayHandler> logger) : IAsyncDisposable
{
    private const string KeyHeader = "Ferry-Key";

    /// <summary>Error bodies are read by people with curl: quotes and apostrophes stay as they are.</summary>
    private static readonly System.Text.Json.Serialization.Metadata.JsonTypeInfo<GatewayError> Readable =
        new GatewayJsonContext(new System.Text.Json.JsonSerializerOptions(GatewayJsonContext.Default.Options)
        {
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        }).GatewayError;
    private const string SecretHeader = "Ferry-Secret";

    private readonly HttpMessageInvoker _client = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        ConnectTimeout = TimeSpan.FromSeconds(15),
        // Containers come and go; a pooled connection to one that stopped must not linger.
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        ActivityHeadersPropagator = null,
    });

    public async Task HandleAsync(HttpContext http)
    {
        var requestId = RequestIds.Next();
        try
        {
            await RouteAndForwardAsync(http, requestId).ConfigureAwait(false);
        }
        catch (GatewayUnavailableException e) when (!http.Response.HasStarted)
        {
            LogBackendUnavailable(logger, requestId, e.Message);
            await FailAsync(http, StatusCodes.Status503ServiceUnavailable, e.Message, requestId).ConfigureAwait(false);
        }
    }

    private async Task RouteAndForwardAsync(HttpContext http, string requestId)
    {
        var (route, label, byPath) = await ResolveAsync(http).ConfigureAwait(false);
        if (route is null)
        {
            await NotFoundAsync(http, label, requestId).ConfigureAwait(false);
            return;
        }
        if (byPath)
        {
            var rest = http.Request.Path.Value!.AsSpan(1 + label!.Length);
            http.Request.PathBase = "/" + label;
            http.Request.Path = rest.Length == 0 ? "/" : new PathString(rest.ToString());
        }
        (string Id, string Secret)? credential = null;
        var credentialTaken = false;
        GatewaySlot slot;
        // A standalone gateway resolves a label from a short-lived cache; when the label has moved to another app in
        // the meantime, the server refuses the slot and the request is routed (and authenticated) once more.
        for (var attempt = 0; ; attempt++)
        {
            if (route.Spec.RequiresAuth && !credentialTaken)
            {
                // The token is for the gateway: the container never sees it. A public endpoint gets the headers as
                // they came, since its app may use Authorization for its own purposes.
                credential = TakeCredential(http.Request);
                credentialTaken = true;
            }
            if (route.Spec.RequiresAuth && !await AuthenticateAsync(credential, http.RequestAborted).ConfigureAwait(false))
            {
                await FailAsync(http, StatusCodes.Status401Unauthorized,
                    $"The endpoint '{route.Spec.Label}' requires a proxy token: send the headers {KeyHeader} and {SecretHeader}, or Authorization: Bearer <token>. Create one with `ferry token create NAME --kind proxy`.", requestId).ConfigureAwait(false);
                return;
            }
            if (http.Request.ContentLength > options.MaxRequestBodyBytes)
            {
                await FailAsync(http, StatusCodes.Status413PayloadTooLarge, TooLarge(), requestId).ConfigureAwait(false);
                return;
            }
            slot = await backend.AcquireAsync(route, options.ColdStartTimeout, http.RequestAborted).ConfigureAwait(false);
            if (!slot.RouteChanged || attempt > 0)
            {
                break;
            }
            route = await backend.FindRouteAsync(route.Spec.Label, http.RequestAborted).ConfigureAwait(false);
            if (route is null)
            {
                await NotFoundAsync(http, label, requestId).ConfigureAwait(false);
                return;
            }
        }
        if (!slot.Acquired)
        {
            var failure = slot.Failure ?? $"The endpoint '{route.Spec.Label}' moved to another app while the request was routed; retry it.";
            backend.Log(route, null, $"Request {requestId} to '{route.Spec.Label}' got no container: {failure}");
            await FailAsync(http, StatusCodes.Status503ServiceUnavailable, failure, requestId).ConfigureAwait(false);
            return;
        }
        try
        {
            http.Items[WebGateway.RequestIdHeader] = requestId;
            var error = await forwarder.SendAsync(http, slot.Destination!, _client, route.Forwarding, Transformer.Instance).ConfigureAwait(false);
            if (error != ForwarderError.None)
            {
                await OnForwardErrorAsync(http, route, slot.ContainerId, error, requestId).ConfigureAwait(false);
            }
        }
        finally
        {
            backend.Release(slot);
        }
    }

    private static Task NotFoundAsync(HttpContext http, string? label, string requestId) =>
        FailAsync(http, StatusCodes.Status404NotFound, label is null
            ? $"Name a web endpoint: http://<label>.{http.Request.Host}/ or http://{http.Request.Host}/<label>/."
            : $"No web endpoint has the label '{label}'. `ferry app list` shows the running apps' endpoints.", requestId);

    /// <summary>The route by host label, else by first path segment; the label that was looked for; whether it came from the path.</summary>
    private async ValueTask<(GatewayRoute? Route, string? Label, bool ByPath)> ResolveAsync(HttpContext http)
    {
        var hostLabel = HostLabel(http.Request.Host);
        if (hostLabel is not null && WireLabel(hostLabel)
            && await backend.FindRouteAsync(hostLabel, http.RequestAborted).ConfigureAwait(false) is { } byHost)
        {
            return (byHost, hostLabel, false);
        }
        var path = http.Request.Path.Value ?? "/";
        if (path.Length > 1)
        {
            var end = path.IndexOf('/', 1);
            var label = end < 0 ? path[1..] : path[1..end];
            if (label.Length > 0)
            {
                return (WireLabel(label) ? await backend.FindRouteAsync(label, http.RequestAborted).ConfigureAwait(false) : null, label, true);
            }
        }
        return (null, hostLabel, false);
    }

    private static bool WireLabel(string label) => Ferry.Protocol.Validation.WireRules.IsWebLabel(label);

    /// <summary>The first DNS label of a host name (not of an IP address), lowercased.</summary>
    internal static string? HostLabel(HostString host)
    {
        var name = host.Host;
        if (name.Length == 0 || IPAddress.TryParse(name, out _))
        {
            return null;
        }
        var dot = name.IndexOf('.', StringComparison.Ordinal);
        return dot <= 0 ? null : name[..dot].ToLowerInvariant();
    }

    /// <summary>The caller's token id and secret, if it sent one, removed from the request.</summary>
    private static (string Id, string Secret)? TakeCredential(HttpRequest request)
    {
        (string, string)? credential = null;
        var headers = request.Headers;
        if (headers.TryGetValue(KeyHeader, out var key) && headers.TryGetValue(SecretHeader, out var value))
        {
            credential = (key.ToString(), value.ToString());
        }
        else if (headers.Authorization.ToString() is { } authorization
            && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            && authorization[7..].Trim().Split('.', 2) is [var tokenId, var tokenSecret])
        {
            credential = (tokenId, tokenSecret);
            headers.Authorization = default;
        }
        headers.Remove(KeyHeader);
        headers.Remove(SecretHeader);
        return credential;
    }

    private ValueTask<bool> AuthenticateAsync((string Id, string Secret)? credential, CancellationToken cancellationToken) =>
        credential is { } c && c.Id.Length > 0 && c.Secret.Length > 0 ? backend.IsProxyTokenAsync(c.Id, c.Secret, cancellationToken) : new(false);

    private async Task OnForwardErrorAsync(HttpContext http, GatewayRoute route, string? containerId, ForwarderError error, string requestId)
    {
        var exception = http.Features.Get<IForwarderErrorFeature>()?.Exception;
        if (error is ForwarderError.RequestCanceled or ForwarderError.ResponseBodyCanceled or ForwarderError.UpgradeRequestCanceled)
        {
            return;
        }
        var tooLarge = Unwrap(exception).OfType<BadHttpRequestException>().Any(e => e.StatusCode == StatusCodes.Status413PayloadTooLarge);
        var clientFault = tooLarge || error is ForwarderError.RequestBodyClient or ForwarderError.ResponseBodyClient or ForwarderError.UpgradeRequestClient or ForwarderError.UpgradeResponseClient;
        if (!clientFault)
        {
            LogForwardFailed(logger, requestId, route.Spec.Label, error, exception?.Message);
            backend.Log(route, containerId,
                $"Request {requestId} ({http.Request.Method} {http.Request.PathBase}{http.Request.Path}) failed at the gateway: {error}{(exception is null ? "" : ": " + exception.Message)}");
        }
        if (http.Response.HasStarted)
        {
            return;
        }
        var (status, message) = tooLarge
            ? (StatusCodes.Status413PayloadTooLarge, TooLarge())
            : error switch
            {
                ForwarderError.RequestTimedOut => (StatusCodes.Status504GatewayTimeout,
                    $"The endpoint '{route.Spec.Label}' did not answer within its request timeout of {route.Spec.RequestTimeoutSeconds:0.###} s."),
                _ when clientFault => (StatusCodes.Status400BadRequest, "The request could not be read whole from the client."),
                _ => (StatusCodes.Status502BadGateway,
                    $"The container serving '{route.Spec.Label}' failed to answer ({error}). Details are in the app's logs under request id {requestId}."),
            };
        await FailAsync(http, status, message, requestId).ConfigureAwait(false);
    }

    private string TooLarge() => $"A request body may be at most {options.MaxRequestBodyBytes} bytes ({options.MaxRequestBodyBytes / (1024.0 * 1024):0.#} MiB) through the gateway.";

    private static IEnumerable<Exception> Unwrap(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            yield return e;
        }
    }

    private static async Task FailAsync(HttpContext http, int status, string message, string requestId)
    {
        http.Response.Clear();
        http.Response.StatusCode = status;
        http.Response.Headers[WebGateway.RequestIdHeader] = requestId;
        if (status == StatusCodes.Status401Unauthorized)
        {
            http.Response.Headers.WWWAuthenticate = "Bearer realm=\"ferry\"";
        }
        await http.Response.WriteAsJsonAsync(new GatewayError(message, requestId), Readable, cancellationToken: http.RequestAborted).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>YARP's default transform, plus the correlation id and the X-Forwarded-* headers an app needs to build its own URLs.</summary>
    private sealed class Transformer : HttpTransformer
    {
        public static readonly Transformer Instance = new();

        public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
            var request = httpContext.Request;
            proxyRequest.Headers.TryAddWithoutValidation(WebGateway.RequestIdHeader, (string)httpContext.Items[WebGateway.RequestIdHeader]!);
            proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-Host", request.Host.Value);
            proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-Proto", request.Scheme);
            if (httpContext.Connection.RemoteIpAddress is { } remote)
            {
                proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-For", remote.ToString());
            }
            if (request.PathBase.HasValue)
            {
                proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-Prefix", request.PathBase.Value);
            }
        }

        public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
        {
            var copy = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken).ConfigureAwait(false);
            // After the container's headers, so the gateway's id is the one the client sees (a container's error echoes it).
            httpContext.Response.Headers[WebGateway.RequestIdHeader] = (string)httpContext.Items[WebGateway.RequestIdHeader]!;
            return copy;
        }
    }

    /// <summary>
    /// Correlation ids that are unique across the gateway's restarts (a random prefix per process) and cost a counter
    /// increment per request rather than a call into the system's random source.
    /// </summary>
    private static class RequestIds
    {
        private static readonly string Prefix = "rq-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
        private static long _next;

        public static string Next() => string.Create(null, stackalloc char[32], $"{Prefix}{Interlocked.Increment(ref _next):x8}");
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Request {RequestId} got no route or slot: {Detail}")]
    private static partial void LogBackendUnavailable(ILogger logger, string requestId, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Request {RequestId} to {Label} failed: {Error} {Detail}")]
    private static partial void LogForwardFailed(ILogger logger, string requestId, string label, ForwarderError error, string? detail);
}
