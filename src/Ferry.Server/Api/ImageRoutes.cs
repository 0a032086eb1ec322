using Ferry.Protocol;
using Ferry.Server.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static Ferry.Server.Api.Requests;

namespace Ferry.Server.Api;

/// <summary>The images the workers have built.</summary>
internal static class ImageRoutes
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet(Routes.Templates.Images, async (IImageStore store, HttpContext http) =>
            Ok(new ImageList(await store.ListImagesAsync(http.RequestAborted)), Json.ImageList));
    }
}
