using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Security;
using Ferry.Server.Streaming;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static Ferry.Server.Api.Requests;

namespace Ferry.Server.Api;

/// <summary>Generator calls: reading the items a generator yields while it runs.</summary>
internal static class StreamRoutes
{
    /// <summary>The most items one read answers.</summary>
    public const int MaxItemsPerRead = 1000;

    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet(Routes.Templates.StreamItems, async (string id, long? after, double? wait, int? limit, HttpContext http, Scheduler scheduler, StreamRelay streams) =>
        {
            await Access.RequireCallAsync(http, scheduler, id);
            var cursor = Cursor(after);
            var pause = Wait(wait, "wait");
            if (limit is < 1)
            {
                throw new BadRequestException($"The parameter 'limit' must be 1 or more, not {limit}.");
            }
            var call = await scheduler.GetCallAsync(id, http.RequestAborted);
            if (call.Record.Kind != CallKinds.Stream)
            {
                throw new BadRequestException($"The call '{id}' is a '{call.Record.Kind}' call, which has no items; read its outputs.");
            }
            var batch = await streams.ReadAsync(id, cursor, pause, Math.Min(limit ?? MaxItemsPerRead, MaxItemsPerRead), http.RequestAborted);
            return Ok(batch, Json.ItemBatch);
        }).RequireAuthorization(Policies.ClientOrContainer);
    }
}
