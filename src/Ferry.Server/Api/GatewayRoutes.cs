using System.Globalization;
using Ferry.Protocol;
using Ferry.Protocol.Validation;
using Ferry.Server.Gateway;
using Ferry.Server.Logs;
using Ferry.Server.Scheduling;
using Ferry.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static Ferry.Server.Api.Requests;

namespace Ferry.Server.Api;

/// <summary>
/// What a standalone gateway (<c>ferry gateway</c>) asks of the server, with a gateway token and nothing else: a label's
/// route, a leased slot in a ready container, renewals and releases of its leases, and proxy-token checks.
/// </summary>
internal static class GatewayRoutes
{
    /// <summary>The longest a gateway may ask to wait for a slot.</summary>
    private static readonly TimeSpan MaxWait = TimeSpan.FromMinutes(10);

    private const int MaxLeasesPerSync = 10_000;
    private const int MaxLogsPerSync = 1_000;
    private const int MaxLogChars = 4_000;

    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet(Routes.Templates.GatewayRoute, (string label, Scheduler scheduler) =>
        {
            RequireLabel(label, "label");
            return scheduler.FindWebRoute(label) is { } route
                ? Ok(new GatewayRouteInfo(route.AppId, route.PoolId, route.Spec), Json.GatewayRouteInfo)
                : throw new NotFoundException($"No web endpoint has the label '{label}'.");
        }).RequireAuthorization(Policies.Gateway);

        v1.MapPost(Routes.Templates.GatewaySlots, async (HttpContext http, Scheduler scheduler, GatewayLeases leases) =>
        {
            var request = await ReadAsync(http, Json.AcquireSlotRequest);
            RequireGatewayId(request.GatewayId);
            RequireLabel(request.Label, "label");
            if (!double.IsFinite(request.WaitSeconds) || request.WaitSeconds < 0)
            {
                throw new BadRequestException($"The field 'waitSeconds' must be a finite number of seconds, 0 or more (at most {MaxWait.TotalSeconds} are waited), not {request.WaitSeconds.ToString(CultureInfo.InvariantCulture)}.");
            }
            if (request.Release is { Count: > MaxLeasesPerSync })
            {
                throw new BadRequestException($"A slot request may release at most {MaxLeasesPerSync} leases; it named {request.Release.Count}.");
            }
            foreach (var released in request.Release ?? [])
            {
                leases.Release(released ?? throw new BadRequestException("The field 'release' may not hold null."), request.GatewayId);
            }
            var seconds = leases.Duration.TotalSeconds;
            if (scheduler.FindWebRoute(request.Label) is not { } route || route.AppId != request.AppId)
            {
                return Ok(new AcquireSlotResponse(null, null, null, seconds, RouteChanged: true), Json.AcquireSlotResponse);
            }
            var wait = TimeSpan.FromSeconds(Math.Min(request.WaitSeconds, MaxWait.TotalSeconds));
            // A gateway that gives up (or dies) while waiting aborts this request, which ends the wait and its backlog.
            var lease = await scheduler.AcquireWebAsync(route.Pool, wait, http.RequestAborted);
            if (!lease.Acquired)
            {
                return Ok(new AcquireSlotResponse(null, null, null, seconds, lease.Failure), Json.AcquireSlotResponse);
            }
            var leaseId = leases.Grant(lease.Container!, request.GatewayId);
            return Ok(new AcquireSlotResponse(leaseId, lease.Container!.Id, lease.Destination, seconds), Json.AcquireSlotResponse);
        }).RequireAuthorization(Policies.Gateway);

        v1.MapPost(Routes.Templates.GatewaySync, async (HttpContext http, GatewayLeases leases, LogHub logs) =>
        {
            var request = await ReadAsync(http, Json.GatewaySyncRequest);
            RequireGatewayId(request.GatewayId);
            if (request.Renew.Count + request.Release.Count > MaxLeasesPerSync)
            {
                throw new BadRequestException($"A sync may name at most {MaxLeasesPerSync} leases; it named {request.Renew.Count + request.Release.Count}.");
            }
            if (request.Logs is { Count: > MaxLogsPerSync })
            {
                throw new BadRequestException($"A sync may carry at most {MaxLogsPerSync} log lines; it carried {request.Logs.Count}.");
            }
            foreach (var leaseId in request.Release)
            {
                leases.Release(leaseId ?? throw new BadRequestException("The field 'release' may not hold null."), request.GatewayId);
            }
            var unknown = new List<string>();
            foreach (var leaseId in request.Renew)
            {
                if (!leases.Renew(leaseId ?? throw new BadRequestException("The field 'renew' may not hold null."), request.GatewayId))
                {
                    unknown.Add(leaseId);
                }
            }
            foreach (var line in request.Logs ?? [])
            {
                if (line.AppId.StartsWith("ap-", StringComparison.Ordinal) && line.AppId.Length <= 64 && line.PoolId.Length <= 256)
                {
                    logs.System(line.AppId, line.PoolId, line.ContainerId, line.Text.Length <= MaxLogChars ? line.Text : line.Text[..MaxLogChars]);
                }
            }
            return Ok(new GatewaySyncResponse(unknown, leases.Duration.TotalSeconds), Json.GatewaySyncResponse);
        }).RequireAuthorization(Policies.Gateway);

        v1.MapPost(Routes.Templates.GatewayProxyToken, async (HttpContext http, TokenRegistry tokens) =>
        {
            var request = await ReadAsync(http, Json.ProxyTokenCheck);
            return Ok(new ProxyTokenResult(tokens.Authenticate(request.TokenId, request.Secret) is { Kind: TokenKinds.Proxy }), Json.ProxyTokenResult);
        }).RequireAuthorization(Policies.Gateway);
    }

    private static void RequireLabel(string label, string field)
    {
        if (!WireRules.IsWebLabel(label))
        {
            throw new BadRequestException($"The field '{field}' must be a web endpoint's label (one DNS label: lowercase letters, digits and hyphens), not '{label}'.");
        }
    }

    private static void RequireGatewayId(string gatewayId)
    {
        if (string.IsNullOrWhiteSpace(gatewayId) || gatewayId.Length > 100)
        {
            throw new BadRequestException("The field 'gatewayId' must be 1 to 100 characters.");
        }
    }
}
