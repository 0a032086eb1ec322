using Ferry.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static Ferry.Server.Api.Requests;

namespace Ferry.Server.Api;

/// <summary><c>GET /health</c>, the one route that needs no token.</summary>
internal static class HealthRoutes
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet(Routes.Templates.Health, () => Ok(new HealthResponse("ok", ProtocolInfo.Version), Json.HealthResponse)).AllowAnonymous();
    }
}
