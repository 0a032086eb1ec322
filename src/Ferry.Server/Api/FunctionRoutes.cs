using Ferry.Protocol;
using Ferry.Protocol.Validation;
using Ferry.Server.Security;
using Ferry.Server.Scheduling;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static Ferry.Server.Api.Requests;

namespace Ferry.Server.Api;

/// <summary>A function's pools: their stats and their autoscalers.</summary>
internal static class FunctionRoutes
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet(Routes.Templates.Stats, (string app, string function, HttpContext http, Scheduler scheduler) =>
        {
            var id = scheduler.ResolveApp(app);
            Access.RequireApp(http, id);
            return Ok(scheduler.GetStats(id, function, null), Json.FunctionStats);
        }).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapPost(Routes.Templates.Stats, async (string app, string function, HttpContext http, Scheduler scheduler) =>
        {
            var id = scheduler.ResolveApp(app);
            Access.RequireApp(http, id);
            var pool = await ReadAsync(http, Json.PoolSpec);
            ThrowIfInvalid(WireValidator.Check(pool));
            return Ok(scheduler.GetStats(id, function, pool), Json.FunctionStats);
        }).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapPost(Routes.Templates.Autoscaler, async (string app, string function, HttpContext http, Scheduler scheduler) =>
        {
            var appId = scheduler.ResolveApp(app);
            Access.RequireApp(http, appId);
            var update = await ReadAsync(http, Json.AutoscalerUpdate);
            ThrowIfInvalid(WireValidator.Check(update));
            return Ok(scheduler.UpdateAutoscaler(appId, function, update.Pool, update), Json.AutoscalerSettings);
        }).RequireAuthorization(Policies.ClientOrContainer);
    }
}
