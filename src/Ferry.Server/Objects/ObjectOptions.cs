namespace Ferry.Server.Objects;

/// <summary>Expiry and limits of Secrets, Dicts, Queues and Volumes. Every default is Modal's where Modal publishes one.</summary>
public sealed record ObjectOptions
{
    /// <summary>
    /// The file that holds the key secrets are encrypted under (AES-256-GCM). Null (the default): <c>secrets.key</c> in
    /// the data dir, created with mode 0600 on first start. Keep it apart from the database: the store alone does not
    /// reveal a secret, and the store without the key cannot be read back.
    /// </summary>
    public string? SecretKeyFile { get; init; }

    /// <summary>A Dict entry expires this long after it was last read or written. Default 7 days.</summary>
    public TimeSpan DictEntryTtl { get; init; } = TimeSpan.FromDays(7);

    /// <summary>
    /// A read moves an entry's expiry only when its last move is older than this, so reads do not each cost a write.
    /// An entry read regularly therefore expires between <see cref="DictEntryTtl"/> minus this and
    /// <see cref="DictEntryTtl"/> after its last read. Default 1 hour.
    /// </summary>
    public TimeSpan DictTouchGranularity { get; init; } = TimeSpan.FromHours(1);

    /// <summary>The largest Dict key, as JSON, in bytes. Default 4 KiB.</summary>
    public int MaxDictKeyBytes { get; init; } = 4 * 1024;

    /// <summary>The largest Dict value, as JSON, in bytes. Default 1 MiB.</summary>
    public int MaxDictValueBytes { get; init; } = 1024 * 1024;

    /// <summary>The most entries one update writes. Default 10,000 (Modal's).</summary>
    public int MaxDictEntriesPerUpdate { get; init; } = 10_000;

    /// <summary>The largest queue item, as JSON, in bytes. Default 1 MiB (Modal's).</summary>
    public int MaxQueueItemBytes { get; init; } = 1024 * 1024;

    /// <summary>The most items one partition holds; a put beyond it waits for room. Default 5,000 (Modal's).</summary>
    public int MaxQueueItemsPerPartition { get; init; } = 5_000;

    /// <summary>The most live partitions one queue has. Default 100,000 (Modal's).</summary>
    public int MaxQueuePartitions { get; init; } = 100_000;

    /// <summary>A partition is cleared this long after its last put unless the put names another TTL. Default 24 hours (Modal's).</summary>
    public TimeSpan DefaultPartitionTtl { get; init; } = TimeSpan.FromDays(1);

    /// <summary>The most files one volume holds; a commit beyond it is refused with 413. Default 500,000 (Modal's inode limit of v1 volumes).</summary>
    public int MaxVolumeFiles { get; init; } = 500_000;

    /// <summary>Checks the options, naming the first one out of range.</summary>
    public void Validate()
    {
        if (DictEntryTtl <= TimeSpan.Zero || DictTouchGranularity < TimeSpan.Zero || DictTouchGranularity >= DictEntryTtl)
        {
            throw new ArgumentException($"DictEntryTtl ({DictEntryTtl}) must be positive and larger than DictTouchGranularity ({DictTouchGranularity}).");
        }
        if (MaxDictKeyBytes < 1 || MaxDictValueBytes < 1 || MaxDictEntriesPerUpdate < 1 || MaxQueueItemBytes < 1 || MaxQueueItemsPerPartition < 1 || MaxQueuePartitions < 1 || MaxVolumeFiles < 1)
        {
            throw new ArgumentException("Every object size and count limit must be at least 1.");
        }
        if (DefaultPartitionTtl <= TimeSpan.Zero)
        {
            throw new ArgumentException($"DefaultPartitionTtl must be positive, not {DefaultPartitionTtl}.");
        }
    }
}
