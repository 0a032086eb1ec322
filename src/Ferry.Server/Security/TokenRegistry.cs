using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;

namespace Ferry.Server.Security;

/// <summary>
/// Client and worker tokens. A token is <c>TOKEN_ID.SECRET</c>; the store keeps the SHA-256 of the secret, never the
/// secret. The secrets are 256 random bits, so a fast hash is enough: there is nothing to brute-force the way a
/// password would be. Every token is also held in memory, so checking one costs a dictionary lookup and a hash.
/// </summary>
internal sealed class TokenRegistry(ITokenStore store, TimeProvider clock)
{
    private readonly ConcurrentDictionary<string, TokenRecord> _tokens = new(StringComparer.Ordinal);

    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        foreach (var token in await store.ListTokensAsync(cancellationToken).ConfigureAwait(false))
        {
            _tokens[token.TokenId] = token;
        }
    }

    /// <summary>Issues a token. An ephemeral one lives only as long as this server process (the embedded worker's).</summary>
    public async Task<CreateTokenResponse> CreateAsync(string name, string kind, bool ephemeral, CancellationToken cancellationToken)
    {
        var id = Ids.New("tk");
        var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var record = new TokenRecord(id, name, kind, Hash(secret), clock.GetUtcNow(), null);
        if (!ephemeral)
        {
            await store.SaveTokenAsync(record, cancellationToken).ConfigureAwait(false);
        }
        _tokens[id] = record;
        return new CreateTokenResponse(Summary(record), $"{id}.{secret}");
    }

    public IReadOnlyList<TokenSummary> List() =>
        [.. _tokens.Values.OrderBy(t => t.CreatedAt).ThenBy(t => t.TokenId, StringComparer.Ordinal).Select(Summary)];

    /// <summary>Revokes a token at once; requests already past authentication finish.</summary>
    public async Task<TokenSummary> RevokeAsync(string tokenId, CancellationToken cancellationToken)
    {
        if (!_tokens.TryGetValue(tokenId, out var token))
        {
            throw new NotFoundException($"No token has the id '{tokenId}'. See `ferry token list`.");
        }
        if (token.RevokedAt is null)
        {
            token = token with { RevokedAt = clock.GetUtcNow() };
            await store.SaveTokenAsync(token, cancellationToken).ConfigureAwait(false);
            _tokens[tokenId] = token;
        }
        return Summary(token);
    }

    /// <summary>The live token with this id and secret, or null.</summary>
    public TokenRecord? Authenticate(string tokenId, string secret) =>
        _tokens.TryGetValue(tokenId, out var token)
            && token.RevokedAt is null
            && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(token.SecretHash), Encoding.ASCII.GetBytes(Hash(secret)))
            ? token
            : null;

    private static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    private static TokenSummary Summary(TokenRecord token) => new(token.TokenId, token.Name, token.Kind, token.CreatedAt, token.RevokedAt);
}
