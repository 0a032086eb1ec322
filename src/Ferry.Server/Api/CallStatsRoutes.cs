using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static Ferry.Server.Api.Requests;

namespace Ferry.Server.Api;

/// <summary>A call's progress: how many inputs succeeded, failed and are pending, for handles on spawned maps.</summary>
internal static class CallStatsRoutes
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet(Routes.Templates.CallStats, async (string id, HttpContext http, Scheduler scheduler) =>
        {
            await Access.RequireCallAsync(http, scheduler, id);
            return Ok(await scheduler.GetCallProgressAsync(id, http.RequestAborted), Json.CallProgress);
        }).RequireAuthorization(Policies.ClientOrContainer);
    }
}
