using Ferry.Protocol;
using Ferry.Protocol.Validation;
using Ferry.Server.Security;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using static Ferry.Server.Api.Requests;

namespace Ferry.Server.Api;

/// <summary>The content-addressed blob store: which blobs are missing, uploads and downloads.</summary>
internal static class BlobRoutes
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost(Routes.Templates.MissingBlobs, async (HttpContext http, IBlobStore blobs) =>
        {
            var request = await ReadAsync(http, Json.MissingBlobsRequest);
            ThrowIfInvalid(WireValidator.Check(request));
            return Ok(new MissingBlobsResponse([.. request.Hashes.Distinct().Where(h => !blobs.Exists(h))]), Json.MissingBlobsResponse);
        }).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapPut(Routes.Templates.Blob, async (string hash, HttpContext http, IBlobStore blobs) =>
        {
            if (!FileBlobStore.IsHash(hash))
            {
                throw new BadRequestException($"'{hash}' is not a lower-case SHA-256 hash.");
            }
            http.Features.Get<IHttpMaxRequestBodySizeFeature>()!.MaxRequestBodySize = ProtocolInfo.MaxBlobBytes;
            if (http.Request.ContentLength > ProtocolInfo.MaxBlobBytes)
            {
                throw new PayloadTooLargeException($"A blob may be at most {ProtocolInfo.MaxBlobBytes / (1024 * 1024)} MiB.");
            }
            if (!await blobs.PutAsync(hash, http.Request.Body, http.RequestAborted))
            {
                throw new BadRequestException($"The uploaded content does not hash to {hash}.");
            }
            return Results.NoContent();
        }).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapGet(Routes.Templates.Blob, (string hash, IBlobStore blobs) =>
            blobs.LocalPath(hash) is { } path
                ? Results.File(path, "application/octet-stream")
                : blobs.OpenRead(hash) is { } stream
                    ? Results.Stream(stream, "application/octet-stream")
                    : throw new NotFoundException($"No blob has the hash '{hash}'.")).RequireAuthorization(Policies.Any);
    }
}
