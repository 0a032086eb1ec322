namespace Ferry.Server.Storage;

/// <summary>A credential as stored: the SHA-256 of its secret, never the secret.</summary>
internal sealed record TokenRecord(string TokenId, string Name, string Kind, string SecretHash, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt);

/// <summary>
/// Client and worker tokens, read whole at start by the token registry. Writes follow the rules of
/// <see cref="IStore"/>: a token is usable across a restart once its save returns.
/// </summary>
internal interface ITokenStore
{
    /// <summary>Inserts a token, or updates the revocation of a stored one; nothing else of a stored token changes.</summary>
    Task SaveTokenAsync(TokenRecord token, CancellationToken cancellationToken);

    /// <summary>Every stored token, revoked or not, in creation order.</summary>
    Task<IReadOnlyList<TokenRecord>> ListTokensAsync(CancellationToken cancellationToken);
}
