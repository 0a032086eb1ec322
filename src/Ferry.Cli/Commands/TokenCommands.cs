using System.Globalization;
using Ferry.Protocol;
using Spectre.Console;

namespace Ferry.Cli.Commands;

/// <summary><c>ferry token create|list|revoke</c>.</summary>
internal static class TokenCommands
{
    private static readonly ProtocolJsonContext Json = ProtocolJsonContext.Default;

    public static async Task<int> CreateAsync(string name, string kind, string? server, CancellationToken cancellationToken)
    {
        using var client = await ControlPlane.ConnectAsync(server, startLocal: false, cancellationToken).ConfigureAwait(false);
        var created = await client.SendAsync(HttpMethod.Post, Routes.Tokens, new CreateTokenRequest(name, kind),
            Json.CreateTokenRequest, Json.CreateTokenResponse, cancellationToken).ConfigureAwait(false);
        Output.Info($"Created {created.Token.Kind} token {created.Token.TokenId} ('{created.Token.Name}'). Its secret is shown this once:");
        // The secret alone on stdout, so `ferry token create ... > file` captures just it.
        Console.WriteLine(created.Secret);
        return 0;
    }

    public static async Task<int> ListAsync(bool json, string? server, CancellationToken cancellationToken)
    {
        using var client = await ControlPlane.ConnectAsync(server, startLocal: false, cancellationToken).ConfigureAwait(false);
        var tokens = await client.SendAsync<object, TokenList>(HttpMethod.Get, Routes.Tokens, null, null, Json.TokenList, cancellationToken).ConfigureAwait(false);
        Output.Listing(tokens, Json.TokenList, json, ["Token id", "Name", "Kind", "Created", "Revoked"],
            tokens.Tokens.Select(t => new[] { t.TokenId, t.Name, t.Kind, Time(t.CreatedAt), t.RevokedAt is { } revoked ? Time(revoked) : "" }));
        return 0;
    }

    public static async Task<int> RevokeAsync(string tokenId, string? server, CancellationToken cancellationToken)
    {
        using var client = await ControlPlane.ConnectAsync(server, startLocal: false, cancellationToken).ConfigureAwait(false);
        var token = await client.SendAsync<object, TokenSummary>(HttpMethod.Post, Routes.RevokeToken(tokenId), null, null, Json.TokenSummary, cancellationToken).ConfigureAwait(false);
        Output.Info($"Revoked {token.Kind} token {token.TokenId} ('{token.Name}').");
        return 0;
    }

    private static string Time(DateTimeOffset time) => Output.Time(time);
}
