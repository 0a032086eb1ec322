namespace Ferry.Server.Storage;

/// <summary>A secret as stored: its values sealed by <see cref="Objects.SecretVault"/>, its key names in clear.</summary>
internal sealed record SecretRecord(string Name, IReadOnlyList<string> Keys, byte[] Sealed, bool Ephemeral, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>A named Dict or Queue.</summary>
internal sealed record ObjectRecord(string Name, DateTimeOffset CreatedAt);

/// <summary>A Dict entry: its key and value as compact JSON text, and when it was last read or written.</summary>
internal sealed record DictEntryRecord(string Key, string Value, DateTimeOffset TouchedAt);

/// <summary>A queue item: its id, which orders a partition, and its value as JSON text.</summary>
internal sealed record QueueItemRecord(long Id, string Value);

/// <summary>What a put to a queue partition did.</summary>
internal enum QueuePutOutcome
{
    Accepted,
    NoQueue,
    Full,
    TooManyPartitions,
}

/// <summary>
/// Secrets, Dicts and Queues: named, shared between apps, and durable. Writes follow the rules of <see cref="IStore"/>;
/// an operation that reads and changes (put-if-absent, pop, take) runs whole in the store's single writer, so two
/// callers never both win a key or both take an item. Times come from the caller's clock.
/// </summary>
internal interface IObjectStore
{
    /// <summary>Inserts a secret; one with the name is replaced only when <paramref name="replace"/>. False if it existed and stayed.</summary>
    Task<bool> SaveSecretAsync(SecretRecord secret, bool replace, CancellationToken cancellationToken);

    /// <summary>Every secret, ephemeral ones too, by name.</summary>
    Task<IReadOnlyList<SecretRecord>> ListSecretsAsync(CancellationToken cancellationToken);

    /// <summary>Deletes a secret; false if there was none.</summary>
    Task<bool> DeleteSecretAsync(string name, CancellationToken cancellationToken);

    /// <summary>Creates a Dict (<paramref name="kind"/> "dict") or Queue ("queue") if missing; true if this call created it.</summary>
    Task<bool> CreateObjectAsync(string kind, string name, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>The object, or null.</summary>
    Task<ObjectRecord?> GetObjectAsync(string kind, string name, CancellationToken cancellationToken);

    /// <summary>Every object of a kind, by name.</summary>
    Task<IReadOnlyList<ObjectRecord>> ListObjectsAsync(string kind, CancellationToken cancellationToken);

    /// <summary>Deletes an object with its entries or items; false if there was none.</summary>
    Task<bool> DeleteObjectAsync(string kind, string name, CancellationToken cancellationToken);

    /// <summary>The entry if it was last touched after <paramref name="liveSince"/> (an entry expires exactly its TTL after its last touch), or null.</summary>
    Task<DictEntryRecord?> GetDictEntryAsync(string dict, string key, DateTimeOffset liveSince, CancellationToken cancellationToken);

    /// <summary>Moves an entry's last-touched time to <paramref name="now"/>, if it is still there.</summary>
    Task TouchDictEntryAsync(string dict, string key, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Writes entries, touched at <paramref name="now"/>. With <paramref name="skipIfExists"/>, a key with an entry
    /// touched after <paramref name="liveSince"/> keeps it. Returns how many entries were written.
    /// </summary>
    Task<int> PutDictEntriesAsync(string dict, IReadOnlyList<(string Key, string Value)> entries, bool skipIfExists, DateTimeOffset now, DateTimeOffset liveSince, CancellationToken cancellationToken);

    /// <summary>Removes an entry and returns it if it was live; an expired one goes too but is not returned.</summary>
    Task<DictEntryRecord?> PopDictEntryAsync(string dict, string key, DateTimeOffset liveSince, CancellationToken cancellationToken);

    /// <summary>Live entries after the key <paramref name="afterKey"/> (all if null), in ordinal key order.</summary>
    Task<IReadOnlyList<DictEntryRecord>> ListDictEntriesAsync(string dict, string? afterKey, int limit, DateTimeOffset liveSince, CancellationToken cancellationToken);

    Task<long> CountDictEntriesAsync(string dict, DateTimeOffset liveSince, CancellationToken cancellationToken);

    Task ClearDictAsync(string dict, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes Dict entries last touched at or before <paramref name="dictCutoff"/>, and queue partitions whose TTL ran out by
    /// <paramref name="now"/> with their items; returns how many entries and partitions went.
    /// </summary>
    Task<int> SweepObjectsAsync(DateTimeOffset dictCutoff, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Appends values to a partition, all or none: refused when the partition would hold more than
    /// <paramref name="maxItems"/>, or when it is new and the queue has <paramref name="maxPartitions"/> live ones. A
    /// partition whose TTL ran out since its last put starts empty. The put sets the partition's TTL and last put.
    /// </summary>
    Task<QueuePutOutcome> PutQueueItemsAsync(string queue, string partition, IReadOnlyList<string> values, TimeSpan ttl, DateTimeOffset now, int maxItems, int maxPartitions, CancellationToken cancellationToken);

    /// <summary>Removes and returns up to <paramref name="max"/> items from the front of a live partition, in order.</summary>
    Task<IReadOnlyList<QueueItemRecord>> TakeQueueItemsAsync(string queue, string partition, int max, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Up to <paramref name="limit"/> items of a live partition with ids above <paramref name="afterId"/>, left in place.</summary>
    Task<IReadOnlyList<QueueItemRecord>> PeekQueueItemsAsync(string queue, string partition, long afterId, int limit, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Items in a live partition, or in every live partition when <paramref name="partition"/> is null.</summary>
    Task<long> CountQueueItemsAsync(string queue, string? partition, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Empties a partition, or every partition when <paramref name="partition"/> is null.</summary>
    Task ClearQueueAsync(string queue, string? partition, CancellationToken cancellationToken);
}

/// <summary>The kinds of named object <see cref="IObjectStore.CreateObjectAsync"/> keeps.</summary>
internal static class ObjectKinds
{
    public const string Dict = "dict";
    public const string Queue = "queue";
}
