using Ferry.Protocol;
using Ferry.Server.Objects;
using Ferry.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static Ferry.Server.Api.Requests;

namespace Ferry.Server.Api;

/// <summary>
/// Named Queues, shared across the workspace like Modal's: a container's token may put to and take from any queue;
/// only listing and deleting queues need a client token.
/// </summary>
internal static class QueueRoutes
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost(Routes.Templates.Queues, async (HttpContext http, QueueService queues) =>
            Ok(await queues.CreateAsync(await ReadAsync(http, Json.CreateObjectRequest), http.RequestAborted), Json.ObjectSummary))
            .RequireAuthorization(Policies.ClientOrContainer);

        v1.MapGet(Routes.Templates.Queues, async (HttpContext http, QueueService queues) =>
            Ok(new ObjectList(await queues.ListAsync(http.RequestAborted)), Json.ObjectList));

        v1.MapGet(Routes.Templates.Queue, async (string name, HttpContext http, QueueService queues) =>
            Ok(await queues.GetAsync(name, http.RequestAborted), Json.ObjectSummary)).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapDelete(Routes.Templates.Queue, async (string name, HttpContext http, QueueService queues) =>
        {
            await queues.DeleteAsync(name, http.RequestAborted);
            return Results.NoContent();
        });

        v1.MapPost(Routes.Templates.QueuePut, async (string name, HttpContext http, QueueService queues) =>
            Ok(new QueuePutResponse(await queues.PutAsync(name, await ReadAsync(http, Json.QueuePutRequest), http.RequestAborted)), Json.QueuePutResponse))
            .RequireAuthorization(Policies.ClientOrContainer);

        v1.MapPost(Routes.Templates.QueueGet, async (string name, HttpContext http, QueueService queues) =>
            Ok(new QueueValues(await queues.GetAsync(name, await ReadAsync(http, Json.QueueGetRequest), http.RequestAborted)), Json.QueueValues))
            .RequireAuthorization(Policies.ClientOrContainer);

        v1.MapGet(Routes.Templates.QueueItems, async (string name, string? partition, long? after, int? limit, double? wait, HttpContext http, QueueService queues) =>
            Ok(await queues.PeekAsync(name, partition, Cursor(after), limit ?? 100, wait, http.RequestAborted), Json.QueueItems))
            .RequireAuthorization(Policies.ClientOrContainer);

        v1.MapGet(Routes.Templates.QueueLen, async (string name, string? partition, bool? total, HttpContext http, QueueService queues) =>
            Ok(new CountResponse(await queues.CountAsync(name, partition, total ?? false, http.RequestAborted)), Json.CountResponse))
            .RequireAuthorization(Policies.ClientOrContainer);

        v1.MapPost(Routes.Templates.QueueClear, async (string name, HttpContext http, QueueService queues) =>
        {
            await queues.ClearAsync(name, await ReadAsync(http, Json.QueueClearRequest), http.RequestAborted);
            return Results.NoContent();
        }).RequireAuthorization(Policies.ClientOrContainer);
    }
}
