using System.Collections.Concurrent;
using System.Security.Cryptography;
using Ferry.Protocol;
using Ferry.Server.Api;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Microsoft.Extensions.Logging;

namespace Ferry.Server.Objects;

/// <summary>
/// Secrets: read whole from the store at start (sealed), kept sealed in memory, and opened only to build the
/// environment of a container that attaches them. Values never appear in listings, logs or app definitions.
/// </summary>
internal sealed partial class SecretRegistry(IObjectStore store, SecretVault vault, TimeProvider clock, ILogger<SecretRegistry> logger)
{
    /// <summary>The most bytes of keys and values one secret holds.</summary>
    public const int MaxSecretBytes = 64 * 1024;

    private readonly ConcurrentDictionary<string, SecretRecord> _secrets = new(StringComparer.Ordinal);

    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        foreach (var secret in await store.ListSecretsAsync(cancellationToken).ConfigureAwait(false))
        {
            _secrets[secret.Name] = secret;
        }
    }

    /// <summary>Creates a secret, or replaces one with <see cref="CreateSecretRequest.Force"/>; answers its name.</summary>
    /// <exception cref="BadRequestException">A name, key or size is not allowed.</exception>
    /// <exception cref="ConflictException">The secret exists and the request does not force.</exception>
    public async Task<string> CreateAsync(CreateSecretRequest request, CancellationToken cancellationToken)
    {
        var name = request.Ephemeral ? Ids.New("se") : request.Name ?? "";
        if (!request.Ephemeral && !ObjectLimits.IsName(name))
        {
            throw new BadRequestException($"'{name}' is not a secret name: use 1 to {ObjectLimits.MaxNameLength} letters, digits, '-', '_' or '.'.");
        }
        if (request.Values is null || request.Values.Count == 0)
        {
            throw new BadRequestException($"Secret '{name}' needs at least one KEY=VALUE.");
        }
        var size = 0;
        foreach (var (key, value) in request.Values)
        {
            if (!ObjectLimits.IsEnvKey(key))
            {
                throw new BadRequestException($"Secret '{name}': '{key}' is not an environment variable name (a letter or '_', then letters, digits or '_').");
            }
            if (value is null || value.Contains('\0', StringComparison.Ordinal))
            {
                throw new BadRequestException($"Secret '{name}': the value of '{key}' must be a string without NUL characters.");
            }
            size += key.Length + System.Text.Encoding.UTF8.GetByteCount(value);
        }
        if (size > MaxSecretBytes)
        {
            throw new PayloadTooLargeException($"Secret '{name}' holds {size} bytes of keys and values; the limit is {MaxSecretBytes / 1024} KiB.");
        }
        var now = clock.GetUtcNow();
        var created = _secrets.TryGetValue(name, out var existing) ? existing.CreatedAt : now;
        var record = new SecretRecord(name, [.. request.Values.Keys.Order(StringComparer.Ordinal)], vault.Seal(name, request.Values), request.Ephemeral, created, now);
        if (!await store.SaveSecretAsync(record, replace: request.Force, cancellationToken).ConfigureAwait(false))
        {
            throw new ConflictException($"Secret '{name}' already exists; pass --force (Force = true) to replace it.");
        }
        _secrets[name] = record;
        LogSaved(logger, name, record.Keys.Count);
        return name;
    }

    /// <summary>Named secrets by name, with their key names; ephemeral ones are not listed.</summary>
    public IReadOnlyList<SecretSummary> List() =>
        [.. _secrets.Values.Where(s => !s.Ephemeral).OrderBy(s => s.Name, StringComparer.Ordinal).Select(s => new SecretSummary(s.Name, s.Keys, s.CreatedAt, s.UpdatedAt))];

    /// <exception cref="NotFoundException">No secret has the name.</exception>
    public async Task DeleteAsync(string name, CancellationToken cancellationToken)
    {
        if (!await store.DeleteSecretAsync(name, cancellationToken).ConfigureAwait(false))
        {
            throw new NotFoundException($"No secret is named '{name}'.");
        }
        _secrets.TryRemove(name, out _);
    }

    /// <summary>
    /// The environment variables the attached secrets give a container, later secrets overriding earlier ones; or the
    /// reason the container cannot start (a missing secret or required key, named; never a value).
    /// </summary>
    public IReadOnlyDictionary<string, string>? Resolve(IReadOnlyList<SecretRef>? secrets, out string? problem)
    {
        problem = null;
        if (secrets is not { Count: > 0 })
        {
            return null;
        }
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var reference in secrets)
        {
            if (!_secrets.TryGetValue(reference.Name, out var record))
            {
                problem = $"Secret '{reference.Name}' does not exist; create it with `ferry secret create {reference.Name} KEY=VALUE`.";
                return null;
            }
            if ((reference.RequiredKeys ?? []).FirstOrDefault(k => !record.Keys.Contains(k, StringComparer.Ordinal)) is { } missing)
            {
                problem = $"Secret '{reference.Name}' has no key '{missing}', which the function requires.";
                return null;
            }
            try
            {
                foreach (var (key, value) in vault.Open(record.Name, record.Sealed))
                {
                    environment[key] = value;
                }
            }
            catch (CryptographicException)
            {
                problem = $"Secret '{reference.Name}' cannot be decrypted with this server's key file; it was sealed under another key.";
                return null;
            }
        }
        return environment;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Secret {Name} saved with {KeyCount} keys.")]
    private static partial void LogSaved(ILogger logger, string name, int keyCount);
}
