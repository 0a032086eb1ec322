using Ferry.Protocol;
using Ferry.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static Ferry.Server.Api.Requests;

namespace Ferry.Server.Api;

/// <summary>Client, worker, proxy and gateway tokens: issuing, listing and revoking them.</summary>
internal static class TokenRoutes
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost(Routes.Templates.Tokens, async (HttpContext http, TokenRegistry tokens) =>
        {
            var request = await ReadAsync(http, Json.CreateTokenRequest);
            if (string.IsNullOrWhiteSpace(request.Name) || request.Name.Length > 100)
            {
                throw new BadRequestException("The field 'name' must be 1 to 100 characters.");
            }
            if (request.Kind is not (TokenKinds.Client or TokenKinds.Worker or TokenKinds.Proxy or TokenKinds.Gateway))
            {
                throw new BadRequestException($"The field 'kind' must be one of: {TokenKinds.Client}, {TokenKinds.Worker}, {TokenKinds.Proxy}, {TokenKinds.Gateway}.");
            }
            return Ok(await tokens.CreateAsync(request.Name, request.Kind, ephemeral: false, http.RequestAborted), Json.CreateTokenResponse);
        });

        v1.MapGet(Routes.Templates.Tokens, (TokenRegistry tokens) => Ok(new TokenList(tokens.List()), Json.TokenList));

        v1.MapPost(Routes.Templates.RevokeToken, async (string id, HttpContext http, TokenRegistry tokens) =>
            Ok(await tokens.RevokeAsync(id, http.RequestAborted), Json.TokenSummary));
    }
}
