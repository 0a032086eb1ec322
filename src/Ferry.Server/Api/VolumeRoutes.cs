using Ferry.Protocol;
using Ferry.Server.Objects;
using Ferry.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static Ferry.Server.Api.Requests;

namespace Ferry.Server.Api;

/// <summary>
/// Named volumes. Shared across the workspace like Dicts: a container's token may read and commit any volume, as local
/// code may; a worker reads manifests to give containers their copies; only listing and deleting need a client token.
/// </summary>
internal static class VolumeRoutes
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost(Routes.Templates.Volumes, async (HttpContext http, VolumeService volumes) =>
            Ok(await volumes.CreateAsync(await ReadAsync(http, Json.CreateObjectRequest), http.RequestAborted), Json.VolumeSummary))
            .RequireAuthorization(Policies.ClientOrContainer);

        v1.MapGet(Routes.Templates.Volumes, async (HttpContext http, VolumeService volumes) =>
            Ok(new VolumeList(await volumes.ListAsync(http.RequestAborted)), Json.VolumeList));

        v1.MapGet(Routes.Templates.Volume, async (string name, HttpContext http, VolumeService volumes) =>
            Ok(await volumes.GetAsync(name, http.RequestAborted), Json.VolumeSummary)).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapDelete(Routes.Templates.Volume, async (string name, HttpContext http, VolumeService volumes) =>
        {
            await volumes.DeleteAsync(name, http.RequestAborted);
            return Results.NoContent();
        });

        v1.MapGet(Routes.Templates.VolumeManifest, async (string name, HttpContext http, VolumeService volumes) =>
            Ok(await volumes.ManifestAsync(name, http.RequestAborted), Json.VolumeManifest)).RequireAuthorization(Policies.Any);

        v1.MapPost(Routes.Templates.VolumeCommit, async (string name, HttpContext http, VolumeService volumes) =>
            Ok(await volumes.CommitAsync(name, await ReadAsync(http, Json.VolumeCommitRequest), http.RequestAborted), Json.VolumeCommitResponse))
            .RequireAuthorization(Policies.ClientOrContainer);

        v1.MapGet(Routes.Templates.VolumeFiles, async (string name, string? path, bool? recursive, HttpContext http, VolumeService volumes) =>
            Ok(await volumes.ListFilesAsync(name, path, recursive ?? false, http.RequestAborted), Json.VolumeListing))
            .RequireAuthorization(Policies.ClientOrContainer);

        v1.MapDelete(Routes.Templates.VolumeFiles, async (string name, string? path, bool? recursive, HttpContext http, VolumeService volumes) =>
            Ok(await volumes.RemoveAsync(name, path, recursive ?? false, http.RequestAborted), Json.VolumeCommitResponse))
            .RequireAuthorization(Policies.ClientOrContainer);

        v1.MapGet(Routes.Templates.VolumeFile, async (string name, string? path, HttpContext http, VolumeService volumes) =>
        {
            var (local, content, length) = await volumes.OpenFileAsync(name, path, http.RequestAborted);
            if (local is not null)
            {
                return Results.File(local, "application/octet-stream");
            }
            http.Response.ContentLength = length;
            return Results.Stream(content!, "application/octet-stream");
        }).RequireAuthorization(Policies.ClientOrContainer);
    }
}
