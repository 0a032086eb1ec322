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

/// <summary>A volume a function mounts, and where its containers see it.</summary>
/// <param name="Path">The absolute path the volume is mounted at in the container, such as <c>/data</c>.</param>
/// <param name="Volume">The volume's name.</param>
/// <param name="CreateIfMissing">The server creates the volume when the app's definition arrives if it does not
/// exist; without it, a definition that mounts a missing volume is refused with a 404 that names it.</param>
public sealed record VolumeMount(string Path, string Volume, bool CreateIfMissing = false);

/// <summary>A named volume: its current version, and how many files and bytes that version holds.</summary>
public sealed record VolumeSummary(string Name, long Version, long Files, long Bytes, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

public sealed record VolumeList(IReadOnlyList<VolumeSummary> Volumes);

/// <summary>One file of a volume's manifest: its path (relative, '/'-separated), content hash, size and Unix mode bits.</summary>
public sealed record VolumeFile(string Path, string Hash, long Size, int Mode);

/// <summary>A volume's whole manifest at <see cref="Version"/>.</summary>
public sealed record VolumeManifest(string Name, long Version, IReadOnlyList<VolumeFile> Files);

/// <summary>
/// Publishes changes to a volume as one new version: <see cref="Put"/> files (whose blobs the server already has)
/// replace what is at their paths, and <see cref="Removed"/> files go. Last write wins per file: a later commit that
/// touches a path replaces what an earlier one wrote there; paths it does not touch keep their content.
/// </summary>
public sealed record VolumeCommitRequest(IReadOnlyList<VolumeFile> Put, IReadOnlyList<string> Removed);

/// <summary>The version a commit made.</summary>
public sealed record VolumeCommitResponse(long Version);

/// <summary>An entry of a volume listing: a file, or a directory that files are under.</summary>
/// <param name="Path">The path, relative to the volume's root, '/'-separated.</param>
/// <param name="IsDirectory">Whether the entry is a directory.</param>
/// <param name="Size">A file's size, or the total size of the files under a directory.</param>
/// <param name="Mode">A file's Unix mode bits; 0 for a directory.</param>
public sealed record VolumeEntry(string Path, bool IsDirectory, long Size, int Mode);

public sealed record VolumeListing(string Name, long Version, IReadOnlyList<VolumeEntry> Entries);

/// <summary>Paths, limits and names that a volume's users share.</summary>
public static class VolumePaths
{
    /// <summary>The longest path of a file in a volume, in characters.</summary>
    public const int MaxPathLength = 1024;

    /// <summary>Paths of the container that a volume may not be mounted at or under.</summary>
    public static IReadOnlyList<string> ReservedMountPaths { get; } = ["/proc", "/sys", "/dev", "/app", "/run/ferry", "/usr/share/dotnet"];

    /// <summary>
    /// Why <paramref name="path"/> cannot be a mount path, or null if it can: it must be absolute and canonical
    /// (<c>/data</c>, not <c>/data/</c> or <c>/a/../b</c>), not the root, and not at or under a path Ferry uses.
    /// </summary>
    public static string? MountProblem(string? path)
    {
        if (string.IsNullOrEmpty(path) || !path.StartsWith('/'))
        {
            return $"must be an absolute path such as /data, not '{path}'";
        }
        var canonical = Normalize(path, rootedOk: true, out var problem);
        if (canonical is null)
        {
            return problem;
        }
        if (canonical.Length == 0)
        {
            return "must not be the root directory '/'";
        }
        if ("/" + canonical != path)
        {
            return $"must be written canonically, as '/{canonical}', not '{path}'";
        }
        return ReservedMountPaths.FirstOrDefault(r => path == r || path.StartsWith(r + "/", StringComparison.Ordinal)) is { } reserved
            ? $"'{path}' is at or under {reserved}, which Ferry's containers use"
            : null;
    }

    /// <summary>
    /// The canonical form of a path inside a volume (relative, '/'-separated, without empty or '.' segments), or null
    /// with <paramref name="problem"/> saying why it is not one: absolute paths, '..' segments, backslashes and NULs
    /// are refused, since every path must stay inside the volume. A leading '/' is read as the volume's root only when
    /// <paramref name="rootedOk"/> is true (the file API's <c>/dir/file</c>); the empty path is the root.
    /// </summary>
    public static string? Normalize(string? path, bool rootedOk, out string? problem)
    {
        problem = null;
        path ??= "";
        if (path.Length > MaxPathLength)
        {
            problem = $"The path is longer than {MaxPathLength} characters.";
            return null;
        }
        if (path.IndexOfAny(['\\', '\0']) >= 0)
        {
            problem = $"The path '{path.Replace("\0", "\\0", StringComparison.Ordinal)}' contains a backslash or a NUL; use '/' between the parts of a volume path.";
            return null;
        }
        if (path.StartsWith('/') && !rootedOk)
        {
            problem = $"The path '{path}' is absolute; a volume path is relative to the volume's root.";
            return null;
        }
        var parts = new List<string>();
        foreach (var part in path.Split('/'))
        {
            if (part is "" or ".")
            {
                continue;
            }
            if (part == "..")
            {
                problem = $"The path '{path}' has a '..' part; a volume path may not leave the volume.";
                return null;
            }
            parts.Add(part);
        }
        return string.Join('/', parts);
    }
}

/// <summary>
/// One volume mounted in a container, as the worker tells the container in <see cref="FerryEnv.Volumes"/> (a JSON
/// array of these).
/// </summary>
/// <param name="Volume">The volume's name.</param>
/// <param name="MountPath">The path the function asked for.</param>
/// <param name="Dir">Where the container finds the files: <paramref name="MountPath"/> itself where the runtime
/// mounts it (runc), or a directory of the worker's where it cannot (the process runtime).</param>
/// <param name="StateFile">Where the container finds, and keeps, <see cref="VolumeBase"/>: what it last committed or loaded.</param>
public sealed record VolumeMountState(string Volume, string MountPath, string Dir, string StateFile);

/// <summary>
/// What a container's copy of a volume was at its last load or commit: the version and each file's hash, with the size
/// and modification time the file had on disk then, so that a commit hashes only the files whose size or time moved.
/// </summary>
public sealed record VolumeBase(long Version, IReadOnlyList<VolumeBaseFile> Files);

/// <summary>A file of a <see cref="VolumeBase"/>; <see cref="MtimeTicks"/> is its last write time in UTC ticks.</summary>
public sealed record VolumeBaseFile(string Path, string Hash, long Size, int Mode, long MtimeTicks);
