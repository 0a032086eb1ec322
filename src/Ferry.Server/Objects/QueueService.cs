using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Ferry.Protocol;
using Ferry.Server.Api;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;

namespace Ferry.Server.Objects;

/// <summary>
/// Named, durable FIFO queues with partitions. A get that finds nothing waits on the partition's put wake-up, and a put
/// that finds no room waits on its take wake-up, so both answer as soon as the other side acts, not on a polling timer.
/// Wake-ups are in this process: they serve clients of this server.
/// </summary>
internal sealed class QueueService(IObjectStore store, TimeProvider clock, ServerOptions options)
{
    private readonly ConcurrentDictionary<string, Wakeup> _puts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Wakeup> _takes = new(StringComparer.Ordinal);

    private ObjectOptions Limits => options.Objects;

    public async Task<ObjectSummary> CreateAsync(CreateObjectRequest request, CancellationToken cancellationToken)
    {
        DictService.CheckName(request.Name);
        if (!await store.CreateObjectAsync(ObjectKinds.Queue, request.Name, clock.GetUtcNow(), cancellationToken).ConfigureAwait(false) && !request.ExistOk)
        {
            throw new ConflictException($"Queue '{request.Name}' already exists.");
        }
        return await GetAsync(request.Name, cancellationToken).ConfigureAwait(false);
    }

    /// <exception cref="NotFoundException">No queue has the name.</exception>
    public async Task<ObjectSummary> GetAsync(string name, CancellationToken cancellationToken)
    {
        DictService.CheckName(name);
        var found = await store.GetObjectAsync(ObjectKinds.Queue, name, cancellationToken).ConfigureAwait(false) ?? throw Missing(name);
        return new ObjectSummary(found.Name, found.CreatedAt);
    }

    private static NotFoundException Missing(string name) =>
        new($"Queue '{name}' does not exist; create it with Queue.FromName(\"{name}\", createIfMissing: true).");

    public async Task<IReadOnlyList<ObjectSummary>> ListAsync(CancellationToken cancellationToken) =>
        [.. (await store.ListObjectsAsync(ObjectKinds.Queue, cancellationToken).ConfigureAwait(false)).Select(o => new ObjectSummary(o.Name, o.CreatedAt))];

    public async Task DeleteAsync(string name, CancellationToken cancellationToken)
    {
        DictService.CheckName(name);
        if (!await store.DeleteObjectAsync(ObjectKinds.Queue, name, cancellationToken).ConfigureAwait(false))
        {
            throw Missing(name);
        }
        PulseAll(name);
    }

    public async Task<bool> PutAsync(string name, QueuePutRequest request, CancellationToken cancellationToken)
    {
        DictService.CheckName(name);
        var partition = Partition(request.Partition);
        if (request.Values is null || request.Values.Count == 0)
        {
            throw new BadRequestException("The field 'values' must hold at least one value.");
        }
        if (request.Values.Count > Limits.MaxQueueItemsPerPartition)
        {
            throw new PayloadTooLargeException($"Queue '{name}': a put of {request.Values.Count} items can never fit a partition of at most {Limits.MaxQueueItemsPerPartition} items.");
        }
        var ttl = request.PartitionTtlSeconds is { } seconds
            ? double.IsFinite(seconds) && seconds > 0 && seconds <= TimeSpan.FromDays(365).TotalSeconds
                ? TimeSpan.FromSeconds(seconds)
                : throw new BadRequestException($"The field 'partitionTtlSeconds' must be more than 0 and at most a year of seconds, not {seconds}.")
            : Limits.DefaultPartitionTtl;
        var values = new List<string>(request.Values.Count);
        foreach (var value in request.Values)
        {
            var text = ObjectJson.Compact(value);
            var bytes = Encoding.UTF8.GetByteCount(text);
            if (bytes > Limits.MaxQueueItemBytes)
            {
                throw new PayloadTooLargeException($"Queue '{name}': item {values.Count} is {bytes} bytes of JSON, over the limit of {ObjectJson.Size(Limits.MaxQueueItemBytes)} per item.");
            }
            values.Add(text);
        }
        var key = WakeKey(name, partition);
        using var deadline = Deadline(request.WaitSeconds, "waitSeconds", cancellationToken);
        while (true)
        {
            var room = _takes.GetOrAdd(key, _ => new Wakeup()).Next;
            var outcome = await store.PutQueueItemsAsync(name, partition, values, ttl, clock.GetUtcNow(), Limits.MaxQueueItemsPerPartition, Limits.MaxQueuePartitions, cancellationToken).ConfigureAwait(false);
            switch (outcome)
            {
                case QueuePutOutcome.Accepted:
                    _puts.GetOrAdd(key, _ => new Wakeup()).Pulse();
                    return true;
                case QueuePutOutcome.NoQueue:
                    throw Missing(name);
                case QueuePutOutcome.TooManyPartitions:
                    throw new PayloadTooLargeException($"Queue '{name}' has {Limits.MaxQueuePartitions} live partitions, the limit; a new partition cannot start until one expires or is cleared.");
            }
            if (!await WaitAsync(room, deadline.Token).ConfigureAwait(false))
            {
                cancellationToken.ThrowIfCancellationRequested();
                return false;
            }
        }
    }

    public async Task<IReadOnlyList<JsonElement>> GetAsync(string name, QueueGetRequest request, CancellationToken cancellationToken)
    {
        await GetAsync(name, cancellationToken).ConfigureAwait(false);
        var partition = Partition(request.Partition);
        if (request.Max is < 1 or > 10_000)
        {
            throw new BadRequestException($"The field 'max' must be between 1 and 10000, not {request.Max}.");
        }
        var key = WakeKey(name, partition);
        using var deadline = Deadline(request.WaitSeconds, "waitSeconds", cancellationToken);
        while (true)
        {
            var arrival = _puts.GetOrAdd(key, _ => new Wakeup()).Next;
            var items = await store.TakeQueueItemsAsync(name, partition, request.Max, clock.GetUtcNow(), cancellationToken).ConfigureAwait(false);
            if (items.Count > 0)
            {
                _takes.GetOrAdd(key, _ => new Wakeup()).Pulse();
                return [.. items.Select(i => ObjectJson.Parse(i.Value))];
            }
            if (!await WaitAsync(arrival, deadline.Token).ConfigureAwait(false))
            {
                cancellationToken.ThrowIfCancellationRequested();
                return [];
            }
        }
    }

    public async Task<QueueItems> PeekAsync(string name, string? partition, long after, int limit, double? wait, CancellationToken cancellationToken)
    {
        await GetAsync(name, cancellationToken).ConfigureAwait(false);
        var key = Partition(partition);
        if (limit is < 1 or > 10_000)
        {
            throw new BadRequestException($"The parameter 'limit' must be between 1 and 10000, not {limit}.");
        }
        using var deadline = Deadline(wait ?? 0, "wait", cancellationToken);
        while (true)
        {
            var arrival = _puts.GetOrAdd(WakeKey(name, key), _ => new Wakeup()).Next;
            var items = await store.PeekQueueItemsAsync(name, key, after, limit, clock.GetUtcNow(), cancellationToken).ConfigureAwait(false);
            if (items.Count > 0 || !await WaitAsync(arrival, deadline.Token).ConfigureAwait(false))
            {
                return new QueueItems([.. items.Select(i => new QueueItem(i.Id, ObjectJson.Parse(i.Value)))], items.Count > 0 ? items[^1].Id : after);
            }
        }
    }

    public async Task<long> CountAsync(string name, string? partition, bool total, CancellationToken cancellationToken)
    {
        await GetAsync(name, cancellationToken).ConfigureAwait(false);
        return await store.CountQueueItemsAsync(name, total ? null : Partition(partition), clock.GetUtcNow(), cancellationToken).ConfigureAwait(false);
    }

    public async Task ClearAsync(string name, QueueClearRequest request, CancellationToken cancellationToken)
    {
        await GetAsync(name, cancellationToken).ConfigureAwait(false);
        await store.ClearQueueAsync(name, request.All ? null : Partition(request.Partition), cancellationToken).ConfigureAwait(false);
        PulseAll(name);
    }

    private void PulseAll(string name)
    {
        foreach (var (key, wakeup) in _takes)
        {
            if (key.StartsWith(name + "\0", StringComparison.Ordinal))
            {
                wakeup.Pulse();
            }
        }
    }

    private static string WakeKey(string name, string partition) => name + "\0" + partition;

    /// <summary>The default partition is the empty key; a named one is 1 to 64 UTF-8 bytes.</summary>
    private static string Partition(string? partition)
    {
        if (partition is null)
        {
            return "";
        }
        var bytes = Encoding.UTF8.GetByteCount(partition);
        return bytes is >= 1 and <= ObjectLimits.MaxPartitionKeyBytes
            ? partition
            : throw new BadRequestException($"A partition key must be 1 to {ObjectLimits.MaxPartitionKeyBytes} bytes of UTF-8, not {bytes}.");
    }

    private WaitDeadline Deadline(double seconds, string field, CancellationToken cancellationToken) => double.IsFinite(seconds)
        ? new WaitDeadline(TimeSpan.FromSeconds(Math.Clamp(seconds, 0, ObjectLimits.MaxWaitSeconds)), clock, cancellationToken)
        : throw new BadRequestException($"The field '{field}' must be a finite number of seconds.");

    /// <summary>A request's wait on the server's clock, ended early when the request is aborted.</summary>
    private sealed class WaitDeadline : IDisposable
    {
        private readonly CancellationTokenSource _timeout;
        private readonly CancellationTokenSource _linked;

        public WaitDeadline(TimeSpan wait, TimeProvider clock, CancellationToken cancellationToken)
        {
            _timeout = new CancellationTokenSource(wait, clock);
            _linked = CancellationTokenSource.CreateLinkedTokenSource(_timeout.Token, cancellationToken);
        }

        public CancellationToken Token => _linked.Token;

        public void Dispose()
        {
            _linked.Dispose();
            _timeout.Dispose();
        }
    }

    /// <summary>Waits for a wake-up; false when the deadline came first.</summary>
    private static async Task<bool> WaitAsync(Task wakeup, CancellationToken deadline)
    {
        if (deadline.IsCancellationRequested)
        {
            return false;
        }
        try
        {
            await wakeup.WaitAsync(deadline).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
