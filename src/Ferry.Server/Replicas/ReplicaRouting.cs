using System.Net;
using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace Ferry.Server.Replicas;

/// <summary>
/// Sends each request about an app to the replica that owns the app: served here when this replica holds its lease
/// (or takes it, when nobody holds it), forwarded with YARP's <see cref="IHttpForwarder"/> otherwise. Requests that
/// name no app (builds, blobs, tokens, workers, containers) are served by whichever replica receives them.
/// </summary>
internal sealed partial class ReplicaRouting(ReplicaCoordinator coordinator, Scheduler scheduler, IAppStore apps, IHttpForwarder forwarder, ILogger<ReplicaRouting> logger) : IDisposable
{
    /// <summary>Marks a forwarded request, so that a replica that no longer owns the app does not forward it again.</summary>
    public const string ForwardedHeader = "Ferry-Forwarded-By";

    private static readonly string[] CallTemplates =
        [Routes.Templates.Call, Routes.Templates.Inputs, Routes.Templates.Outputs, Routes.Templates.CancelCall, Routes.Templates.CallStats, Routes.Templates.StreamItems];

    private readonly HttpMessageInvoker _client = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        ConnectTimeout = TimeSpan.FromSeconds(5),
        EnableMultipleHttp2Connections = true,
        ActivityHeadersPropagator = null,
    });

    public async Task HandleAsync(HttpContext http, RequestDelegate next)
    {
        var appId = await AppOfRequestAsync(http).ConfigureAwait(false);
        if (appId is null)
        {
            await next(http).ConfigureAwait(false);
            return;
        }
        var owner = await coordinator.ResolveAsync(appId, http.RequestAborted).ConfigureAwait(false);
        if (owner.Local)
        {
            await next(http).ConfigureAwait(false);
            return;
        }
        if (owner.Url is null || http.Request.Headers.ContainsKey(ForwardedHeader))
        {
            await MovingAsync(http, appId).ConfigureAwait(false);
            return;
        }
        http.Request.Headers[ForwardedHeader] = coordinator.ReplicaId;
        var error = await forwarder.SendAsync(http, owner.Url.AbsoluteUri, _client, ForwarderRequestConfig.Empty, HttpTransformer.Default).ConfigureAwait(false);
        if (error != ForwarderError.None)
        {
            LogForwardFailed(logger, appId, owner.Url, error);
            if (!http.Response.HasStarted)
            {
                // The owner is unreachable: it may be dying, and its lease lapses soon. The client retries a 503.
                await MovingAsync(http, appId).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The app a request is about, by id; null for a request about no app.</summary>
    private async Task<string?> AppOfRequestAsync(HttpContext http)
    {
        if (http.GetEndpoint() is not RouteEndpoint endpoint || endpoint.RoutePattern.RawText is not { } pattern)
        {
            return null;
        }
        if (http.Request.RouteValues.TryGetValue("app", out var app) && app is string idOrName)
        {
            return idOrName.StartsWith("ap-", StringComparison.Ordinal) ? idOrName : await AppByNameAsync(idOrName, http.RequestAborted).ConfigureAwait(false);
        }
        if (http.Request.RouteValues.TryGetValue("id", out var id) && id is string callId
            && CallTemplates.Any(t => pattern.EndsWith(t, StringComparison.Ordinal)))
        {
            return await scheduler.AppOfCallAsync(callId, http.RequestAborted).ConfigureAwait(false);
        }
        return null;
    }

    private async Task<string?> AppByNameAsync(string name, CancellationToken cancellationToken)
    {
        // The newest app of that name, as the scheduler resolves a name; a name it holds needs no look-up.
        if (scheduler.TryResolveHeldApp(name) is { } held)
        {
            return held;
        }
        var all = await apps.ListAppsAsync(cancellationToken).ConfigureAwait(false);
        return all.Where(a => a.Name == name).OrderByDescending(a => a.CreatedAt).FirstOrDefault()?.AppId;
    }

    private static Task MovingAsync(HttpContext http, string appId)
    {
        http.Response.Clear();
        http.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        http.Response.Headers.RetryAfter = "1";
        return http.Response.WriteAsJsonAsync(
            new ErrorResponse(ErrorCodes.Unavailable, $"The app '{appId}' is moving to another server; retry shortly."),
            ProtocolJsonContext.Default.ErrorResponse, contentType: null, http.RequestAborted);
    }

    public void Dispose() => _client.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Forwarding a request for app {AppId} to {Owner} failed: {Error}.")]
    private static partial void LogForwardFailed(ILogger logger, string appId, Uri owner, ForwarderError error);
}
