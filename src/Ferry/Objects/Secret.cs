using System.Collections.Concurrent;
using System.Security.Cryptography;
using Ferry.Client;
using Ferry.Protocol;

namespace Ferry;

/// <summary>
/// Keys and values that become environment variables in the containers of the functions that attach them
/// (<see cref="FunctionOptions.Secrets"/>, or every function of an <see cref="App"/>). A named secret lives on the
/// server, encrypted (<c>ferry secret create</c>); <see cref="FromDictionary"/> and <see cref="FromDotenv"/> secrets are
/// read on the machine that starts the app and sent to the server apart from the app's definition, which never holds a
/// value.
/// </summary>
public sealed class Secret
{
    private static readonly ConcurrentDictionary<string, Secret> Locals = new(StringComparer.Ordinal);
    private readonly Func<IReadOnlyDictionary<string, string>>? _localValues;
    private readonly ConcurrentDictionary<Uri, Task<string>> _uploaded = new();

    private Secret(string name, IReadOnlyList<string> requiredKeys, Func<IReadOnlyDictionary<string, string>>? localValues)
    {
        Name = name;
        RequiredKeys = requiredKeys;
        _localValues = localValues;
    }

    /// <summary>The secret's name on the server; for a local secret, a placeholder that names this process's copy.</summary>
    public string Name { get; }

    /// <summary>Keys the secret must have: a container of a function that attaches it does not start without them.</summary>
    public IReadOnlyList<string> RequiredKeys { get; }

    /// <summary>The secret named <paramref name="name"/> on the server, created with <c>ferry secret create</c>.</summary>
    /// <param name="name">The secret's name.</param>
    /// <param name="requiredKeys">Keys the secret must have. A container whose secret lacks one does not start, and the
    /// function's calls fail with a <see cref="NotFoundException"/> that names the key (never a value).</param>
    /// <exception cref="ArgumentException">The name or a key is not valid.</exception>
    public static Secret FromName(string name, IEnumerable<string>? requiredKeys = null)
    {
        if (!ObjectLimits.IsName(name))
        {
            throw new ArgumentException($"'{name}' is not a secret name: use 1 to {ObjectLimits.MaxNameLength} letters, digits, '-', '_' or '.'.", nameof(name));
        }
        var keys = requiredKeys?.ToList() ?? [];
        if (keys.FirstOrDefault(k => !ObjectLimits.IsEnvKey(k)) is { } bad)
        {
            throw new ArgumentException($"'{bad}' is not an environment variable name.", nameof(requiredKeys));
        }
        return new Secret(name, keys, null);
    }

    /// <summary>A secret of the given values; keys with a null value are left out, as Modal's <c>from_dict</c> does.</summary>
    /// <exception cref="ArgumentException">A key is not an environment variable name.</exception>
    public static Secret FromDictionary(IReadOnlyDictionary<string, string?> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var kept = values.Where(v => v.Value is not null).ToDictionary(v => v.Key, v => v.Value!, StringComparer.Ordinal);
        if (kept.Keys.FirstOrDefault(k => !ObjectLimits.IsEnvKey(k)) is { } bad)
        {
            throw new ArgumentException($"'{bad}' is not an environment variable name.", nameof(values));
        }
        return Local(() => kept);
    }

    /// <summary>
    /// A secret of the variables in a dotenv file, read when the app starts on this machine (not in containers, which
    /// do not have the file). Lines are <c>KEY=VALUE</c>, optionally <c>export KEY=VALUE</c>; values may be single- or
    /// double-quoted (double quotes understand <c>\n</c>, <c>\"</c> and <c>\\</c>); blank lines and lines starting with
    /// <c>#</c> are skipped, as is a <c> #comment</c> after an unquoted value.
    /// </summary>
    /// <param name="path">The file, or a directory holding <c>.env</c>. Default: <c>.env</c> in the current directory.</param>
    /// <remarks>A malformed line fails the app's start with an <see cref="InvalidRequestException"/> naming the file and line number.</remarks>
    public static Secret FromDotenv(string path = ".env")
    {
        var full = Path.GetFullPath(path);
        return Local(() =>
        {
            var file = Directory.Exists(full) ? Path.Combine(full, ".env") : full;
            if (!File.Exists(file))
            {
                throw new InvalidRequestException($"The dotenv file {file} does not exist.");
            }
            return Dotenv.Parse(File.ReadAllText(file), file);
        });
    }

    /// <summary>A secret of these variables of this process's environment, read when the app starts on this machine.</summary>
    /// <exception cref="InvalidRequestException">At start: a variable is not set.</exception>
    public static Secret FromLocalEnviron(IEnumerable<string> keys)
    {
        var names = keys.ToList();
        return Local(() => names.ToDictionary(k => k, k => Environment.GetEnvironmentVariable(k)
            ?? throw new InvalidRequestException($"Secret.FromLocalEnviron: the variable '{k}' is not set in this environment."), StringComparer.Ordinal));
    }

    private static Secret Local(Func<IReadOnlyDictionary<string, string>> values)
    {
        var secret = new Secret("local-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)), [], values);
        Locals[secret.Name] = secret;
        return secret;
    }

    internal SecretRef ToRef() => new(Name, RequiredKeys.Count == 0 ? null : RequiredKeys);

    /// <summary>
    /// The definition with each local secret replaced by a copy on the server that only the app's containers use
    /// (the server names it and leaves it out of listings); named secrets are left as they are.
    /// </summary>
    internal static async Task<AppDefinition> UploadLocalAsync(AppDefinition definition, FerryClient client, CancellationToken cancellationToken)
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var reference in definition.Functions.SelectMany(f => f.Settings.Secrets ?? []))
        {
            if (!names.ContainsKey(reference.Name) && Locals.TryGetValue(reference.Name, out var local))
            {
                names[reference.Name] = await local._uploaded.GetOrAdd(client.ServerUrl, _ => local.UploadAsync(client, cancellationToken)).ConfigureAwait(false);
            }
        }
        if (names.Count == 0)
        {
            return definition;
        }
        return definition with
        {
            Functions = [.. definition.Functions.Select(f => f.Settings.Secrets is null ? f : f with
            {
                Settings = f.Settings with { Secrets = [.. f.Settings.Secrets.Select(s => names.TryGetValue(s.Name, out var uploaded) ? s with { Name = uploaded } : s)] },
            })],
        };
    }

    private async Task<string> UploadAsync(FerryClient client, CancellationToken cancellationToken)
    {
        var values = _localValues!();
        var created = await client.SendAsync(HttpMethod.Post, Routes.Secrets, new CreateSecretRequest("", values, Ephemeral: true),
            ProtocolJsonContext.Default.CreateSecretRequest, ProtocolJsonContext.Default.CreateSecretResponse, cancellationToken).ConfigureAwait(false);
        return created.Name;
    }
}
