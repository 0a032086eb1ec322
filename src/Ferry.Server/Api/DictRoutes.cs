using Ferry.Protocol;
using Ferry.Server.Objects;
using Ferry.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static Ferry.Server.Api.Requests;

namespace Ferry.Server.Api;

/// <summary>
/// Named Dicts. Like Modal's, they are shared across the workspace: a container's token may use any dict, as local
/// code may; only listing and deleting dicts need a client token.
/// </summary>
internal static class DictRoutes
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost(Routes.Templates.Dicts, async (HttpContext http, DictService dicts) =>
            Ok(await dicts.CreateAsync(await ReadAsync(http, Json.CreateObjectRequest), http.RequestAborted), Json.ObjectSummary))
            .RequireAuthorization(Policies.ClientOrContainer);

        v1.MapGet(Routes.Templates.Dicts, async (HttpContext http, DictService dicts) =>
            Ok(new ObjectList(await dicts.ListAsync(http.RequestAborted)), Json.ObjectList));

        v1.MapGet(Routes.Templates.Dict, async (string name, HttpContext http, DictService dicts) =>
            Ok(await dicts.GetAsync(name, http.RequestAborted), Json.ObjectSummary)).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapDelete(Routes.Templates.Dict, async (string name, HttpContext http, DictService dicts) =>
        {
            await dicts.DeleteAsync(name, http.RequestAborted);
            return Results.NoContent();
        });

        v1.MapPost(Routes.Templates.DictGet, async (string name, HttpContext http, DictService dicts) =>
            Ok(await dicts.GetValueAsync(name, await ReadAsync(http, Json.DictKeyRequest), http.RequestAborted), Json.DictValueResponse))
            .RequireAuthorization(Policies.ClientOrContainer);

        v1.MapPost(Routes.Templates.DictContains, async (string name, HttpContext http, DictService dicts) =>
            Ok(new DictValueResponse(await dicts.ContainsAsync(name, await ReadAsync(http, Json.DictKeyRequest), http.RequestAborted)), Json.DictValueResponse))
            .RequireAuthorization(Policies.ClientOrContainer);

        v1.MapPost(Routes.Templates.DictPut, async (string name, HttpContext http, DictService dicts) =>
            Ok(new DictPutResponse(await dicts.PutAsync(name, await ReadAsync(http, Json.DictPutRequest), http.RequestAborted)), Json.DictPutResponse))
            .RequireAuthorization(Policies.ClientOrContainer);

        v1.MapPost(Routes.Templates.DictPop, async (string name, HttpContext http, DictService dicts) =>
            Ok(await dicts.PopAsync(name, await ReadAsync(http, Json.DictKeyRequest), http.RequestAborted), Json.DictValueResponse))
            .RequireAuthorization(Policies.ClientOrContainer);

        v1.MapGet(Routes.Templates.DictItems, async (string name, string? after, int? limit, HttpContext http, DictService dicts) =>
            Ok(await dicts.ItemsAsync(name, after, limit ?? 1000, http.RequestAborted), Json.DictItems))
            .RequireAuthorization(Policies.ClientOrContainer);

        v1.MapGet(Routes.Templates.DictCount, async (string name, HttpContext http, DictService dicts) =>
            Ok(new CountResponse(await dicts.CountAsync(name, http.RequestAborted)), Json.CountResponse))
            .RequireAuthorization(Policies.ClientOrContainer);

        v1.MapPost(Routes.Templates.DictClear, async (string name, HttpContext http, DictService dicts) =>
        {
            await dicts.ClearAsync(name, http.RequestAborted);
            return Results.NoContent();
        }).RequireAuthorization(Policies.ClientOrContainer);
    }
}
