using System.Security.Claims;
using System.Text.Encodings.Web;
using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Ferry.Server.Security;

/// <summary>Who made a request: the kinds of credential the control plane accepts.</summary>
internal static class Principals
{
    public const string Client = TokenKinds.Client;
    public const string Worker = TokenKinds.Worker;
    public const string Container = "container";
    public const string Gateway = TokenKinds.Gateway;

    public const string KindClaim = "ferry/kind";
    public const string IdClaim = "ferry/id";
    public const string AppClaim = "ferry/app";

    public static string? Kind(this ClaimsPrincipal user) => user.FindFirstValue(KindClaim);

    /// <summary>The token id, worker token id or container id the request authenticated as.</summary>
    public static string? CredentialId(this ClaimsPrincipal user) => user.FindFirstValue(IdClaim);

    /// <summary>The app of a container's token; null for other credentials.</summary>
    public static string? ContainerApp(this ClaimsPrincipal user) => user.Kind() == Container ? user.FindFirstValue(AppClaim) : null;
}

/// <summary>The authorization policies routes name; a route that names none needs a client token.</summary>
internal static class Policies
{
    public const string Worker = "worker";
    public const string Container = "container";
    public const string ClientOrContainer = "client-or-container";
    public const string ClientOrWorker = "client-or-worker";
    public const string Any = "any-credential";
    public const string Gateway = "gateway";

    public static void Add(AuthorizationOptions options)
    {
        options.FallbackPolicy = Require(Principals.Client);
        options.AddPolicy(Worker, Require(Principals.Worker));
        options.AddPolicy(Container, Require(Principals.Container));
        options.AddPolicy(ClientOrContainer, Require(Principals.Client, Principals.Container));
        options.AddPolicy(ClientOrWorker, Require(Principals.Client, Principals.Worker));
        options.AddPolicy(Any, Require(Principals.Client, Principals.Worker, Principals.Container));
        options.AddPolicy(Gateway, Require(Principals.Gateway));
    }

    private static AuthorizationPolicy Require(params string[] kinds) =>
        new AuthorizationPolicyBuilder(TokenAuthentication.SchemeName).RequireClaim(Principals.KindClaim, kinds).Build();
}

/// <summary>
/// Reads <c>Authorization: Bearer ID.SECRET</c>. Container tokens (<c>ct-...</c>) are checked against the scheduler's
/// live containers, so a container's token dies with it; client and worker tokens against the token registry.
/// Rejections are the API's usual JSON error bodies.
/// </summary>
internal sealed class TokenAuthentication(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, TokenRegistry tokens, Scheduler scheduler)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "FerryToken";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (header.Length == 0)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }
        if (!header.StartsWith(ProtocolInfo.AuthScheme + " ", StringComparison.OrdinalIgnoreCase))
        {
            return Task.FromResult(AuthenticateResult.Fail("not a bearer token"));
        }
        var token = header.AsSpan(ProtocolInfo.AuthScheme.Length + 1).Trim();
        var dot = token.IndexOf('.');
        if (dot <= 0)
        {
            return Task.FromResult(AuthenticateResult.Fail("malformed token"));
        }
        var id = token[..dot].ToString();
        var secret = token[(dot + 1)..].ToString();
        Claim[]? claims = null;
        if (id.StartsWith("ct-", StringComparison.Ordinal))
        {
            if (scheduler.AuthenticateContainer(id, secret) is { } container)
            {
                claims = [new(Principals.KindClaim, Principals.Container), new(Principals.IdClaim, id), new(Principals.AppClaim, container.Pool.App.AppId)];
            }
        }
        else if (tokens.Authenticate(id, secret) is { } record)
        {
            claims = [new(Principals.KindClaim, record.Kind), new(Principals.IdClaim, id)];
        }
        return Task.FromResult(claims is null
            ? AuthenticateResult.Fail("unknown or revoked token")
            : AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName)), SchemeName)));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties) =>
        WriteAsync(StatusCodes.Status401Unauthorized, ErrorCodes.Unauthorized, Request.Headers.Authorization.Count == 0
            ? "This request needs a token: send 'Authorization: Bearer TOKEN'. The CLI reads $FERRY_TOKEN or $FERRY_HOME/token; `ferry token create` makes one."
            : "The token is not valid: it is malformed, unknown, revoked, or belongs to a container that has ended.");

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        WriteAsync(StatusCodes.Status403Forbidden, ErrorCodes.Forbidden, Context.User.Kind() switch
        {
            Principals.Container => "A container's token can only serve its own stream, call its own app's functions and use dicts and queues.",
            Principals.Worker => "A worker's token can only serve the worker stream.",
            Principals.Gateway => "A gateway's token can only resolve web endpoints, lease their container slots and check proxy tokens.",
            _ => "This token does not allow this request.",
        });

    private Task WriteAsync(int status, string code, string message)
    {
        Response.StatusCode = status;
        return Response.WriteAsJsonAsync(new ErrorResponse(code, message), ProtocolJsonContext.Default.ErrorResponse);
    }
}

/// <summary>
/// Checks that a container's request stays inside its own app, or calls a deployed app (a lookup by name). Client
/// tokens pass; they may act on any app.
/// </summary>
internal static class Access
{
    /// <summary>A new call: a container may call its own app, or any version of a deployed app.</summary>
    public static void RequireCallable(HttpContext http, Scheduler scheduler, string appId)
    {
        if (http.User.ContainerApp() is { } own && own != appId && !scheduler.IsDeployedApp(appId))
        {
            throw new ForbiddenException("A container's token can only call its own app's functions and those of deployed apps.");
        }
    }

    public static void RequireApp(HttpContext http, string appId)
    {
        if (http.User.ContainerApp() is { } own && own != appId)
        {
            throw new ForbiddenException("A container's token can only call its own app's functions.");
        }
    }

    public static async Task RequireCallAsync(HttpContext http, Scheduler scheduler, string callId)
    {
        if (http.User.ContainerApp() is not null)
        {
            RequireCallable(http, scheduler, await scheduler.AppOfCallAsync(callId, http.RequestAborted).ConfigureAwait(false));
        }
    }
}

/// <summary>A valid credential asked for something it does not allow.</summary>
internal sealed class ForbiddenException(string message) : Exception(message);
