using Ferry.Protocol;
using Ferry.Server.Objects;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static Ferry.Server.Api.Requests;

namespace Ferry.Server.Api;

/// <summary>
/// Secrets: creating, listing (names and keys only) and deleting them. Client tokens only: a container's token can
/// neither list nor read secrets; it receives the values of the secrets its function attaches in its environment.
/// </summary>
internal static class SecretRoutes
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost(Routes.Templates.Secrets, async (HttpContext http, SecretRegistry secrets) =>
        {
            var request = await ReadAsync(http, Json.CreateSecretRequest);
            return Ok(new CreateSecretResponse(await secrets.CreateAsync(request, http.RequestAborted)), Json.CreateSecretResponse);
        });

        v1.MapGet(Routes.Templates.Secrets, (SecretRegistry secrets) => Ok(new SecretList(secrets.List()), Json.SecretList));

        v1.MapDelete(Routes.Templates.Secret, async (string name, HttpContext http, SecretRegistry secrets) =>
        {
            await secrets.DeleteAsync(name, http.RequestAborted);
            return Results.NoContent();
        });
    }
}
