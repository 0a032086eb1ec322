using System.Text.Json;

namespace Ferry.Protocol;

/// <summary>A named secret a function attaches; its keys become environment variables in the function's containers.</summary>
/// <param name="Name">The secret's name.</param>
/// <param name="RequiredKeys">Keys the secret must have; a container does not start without them.</param>
public sealed record SecretRef(string Name, IReadOnlyList<string>? RequiredKeys = null);

/// <summary>
/// Creates a secret. With <see cref="Ephemeral"/>, the server names it (<c>se-...</c>) and leaves it out of listings:
/// the SDK sends <c>Secret.FromDictionary</c> and <c>Secret.FromDotenv</c> values this way, so they reach containers
/// without being written into the app's definition; their <see cref="Name"/> is then empty.
/// </summary>
public sealed record CreateSecretRequest(string? Name, IReadOnlyDictionary<string, string> Values, bool Force = false, bool Ephemeral = false);

/// <summary>The secret created, by name.</summary>
public sealed record CreateSecretResponse(string Name);

/// <summary>A secret as listed: its name and key names, never its values.</summary>
public sealed record SecretSummary(string Name, IReadOnlyList<string> Keys, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

public sealed record SecretList(IReadOnlyList<SecretSummary> Secrets);

/// <summary>Creates a named Dict or Queue; an existing one is answered as it is when <see cref="ExistOk"/> is true, else 409.</summary>
public sealed record CreateObjectRequest(string Name, bool ExistOk = true);

/// <summary>A named Dict or Queue.</summary>
public sealed record ObjectSummary(string Name, DateTimeOffset CreatedAt);

public sealed record ObjectList(IReadOnlyList<ObjectSummary> Objects);

/// <summary>A key of a Dict, as JSON.</summary>
public sealed record DictKeyRequest(JsonElement Key);

/// <summary>A Dict entry's value, if the key is there.</summary>
public sealed record DictValueResponse(bool Found, JsonElement? Value = null);

public sealed record DictEntry(JsonElement Key, JsonElement Value);

/// <summary>Writes entries; with <see cref="SkipIfExists"/>, a key already present keeps its value.</summary>
public sealed record DictPutRequest(IReadOnlyList<DictEntry> Entries, bool SkipIfExists = false);

/// <summary>How many entries were written.</summary>
public sealed record DictPutResponse(int Written);

/// <summary>A page of a Dict's entries in key order; <see cref="Next"/> is the cursor of the next page, or null at the end.</summary>
public sealed record DictItems(IReadOnlyList<DictEntry> Items, string? Next = null);

public sealed record CountResponse(long Count);

/// <summary>
/// Puts values at the end of a queue's partition, all or none. When the partition has no room, the server waits up to
/// <see cref="WaitSeconds"/> (at most 50) for a get to make some before it answers <c>Accepted = false</c>.
/// </summary>
public sealed record QueuePutRequest(IReadOnlyList<JsonElement> Values, string? Partition = null, double? PartitionTtlSeconds = null, double WaitSeconds = 0);

public sealed record QueuePutResponse(bool Accepted);

/// <summary>Takes up to <see cref="Max"/> values from the front of a partition, waiting up to <see cref="WaitSeconds"/> (at most 50) for one.</summary>
public sealed record QueueGetRequest(int Max = 1, string? Partition = null, double WaitSeconds = 0);

public sealed record QueueValues(IReadOnlyList<JsonElement> Values);

public sealed record QueueItem(long Id, JsonElement Value);

/// <summary>Items of a partition after a cursor, left in the queue; <see cref="Next"/> is the cursor to read after next.</summary>
public sealed record QueueItems(IReadOnlyList<QueueItem> Items, long Next);

/// <summary>Clears one partition (the default one if null), or every partition with <see cref="All"/>.</summary>
public sealed record QueueClearRequest(string? Partition = null, bool All = false);

/// <summary>Limits that storage objects share between the server and the SDK.</summary>
public static class ObjectLimits
{
    /// <summary>Longest name of a secret, dict or queue.</summary>
    public const int MaxNameLength = 64;

    /// <summary>Longest queue partition key, in UTF-8 bytes.</summary>
    public const int MaxPartitionKeyBytes = 64;

    /// <summary>The longest a request waits on the server; clients wait longer by asking again.</summary>
    public const double MaxWaitSeconds = 50;

    /// <summary>Whether <paramref name="name"/> is a valid object name: 1 to 64 of letters, digits, '-', '_' and '.'.</summary>
    public static bool IsName(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= MaxNameLength && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    /// <summary>Whether <paramref name="key"/> can name an environment variable: a letter or '_', then letters, digits or '_'.</summary>
    public static bool IsEnvKey(string? key) =>
        !string.IsNullOrEmpty(key) && key.Length <= 256 && (char.IsAsciiLetter(key[0]) || key[0] == '_') && key.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
}
