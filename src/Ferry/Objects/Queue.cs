using System.Diagnostics;
using System.Runtime.CompilerServices;
using Ferry.Protocol;

namespace Ferry;

/// <summary>
/// A named FIFO queue on the server, shared by local code and every container (Modal's <c>modal.Queue</c>). Values are
/// JSON. A queue has a default partition and any number of named ones (keys of 1 to 64 bytes), each cleared
/// <c>partitionTtl</c> after its last put (24 hours by default). Unlike Modal's, Ferry's queues are durable: items
/// survive a server restart.
/// </summary>
/// <remarks>
/// A get takes items when the server answers it. If that answer is lost on the network, the client's retry does not
/// bring them back: like Modal's, a queue delivers each item at most once.
/// </remarks>
/// <example>
/// <code>
/// var queue = Queue.FromName("task-queue", createIfMissing: true);
/// await queue.PutManyAsync(Enumerable.Range(0, 10));
/// while ((await queue.GetManyAsync&lt;int&gt;(10, TimeSpan.FromSeconds(60))) is { Count: > 0 } tasks) { ... }
/// </code>
/// </example>
public sealed class Queue : ObjectHandle
{
    private Queue(string name, bool createIfMissing, FerryConnection? connection) : base(name, createIfMissing, connection, "queue")
    {
    }

    private protected override string CreateRoute => Routes.Queues;

    /// <summary>A handle on the queue named <paramref name="name"/>. Nothing is sent until the first operation.</summary>
    /// <param name="name">1 to 64 letters, digits, '-', '_' or '.'.</param>
    /// <param name="createIfMissing">Create the queue on first use if it does not exist. Default false: operations on
    /// a missing queue throw a <see cref="NotFoundException"/> that names it.</param>
    /// <param name="connection">The server; default the environment's (in a container, the container's own).</param>
    /// <exception cref="ArgumentException">The name is not valid.</exception>
    public static Queue FromName(string name, bool createIfMissing = false, FerryConnection? connection = null) => new(name, createIfMissing, connection);

    /// <summary>Deletes the queue named <paramref name="name"/> and its items. Needs a client token.</summary>
    /// <exception cref="NotFoundException">No queue has the name.</exception>
    public static Task DeleteAsync(string name, FerryConnection? connection = null, CancellationToken cancellationToken = default) =>
        (connection?.Client ?? Hosting.FerryContext.Client).SendAsync<object, object>(HttpMethod.Delete, Routes.Queue(name), null, null, null, cancellationToken);

    /// <summary>Puts one value at the end of a partition, waiting while it is full.</summary>
    /// <param name="value">The value.</param>
    /// <param name="timeout">How long to wait for room; null (the default) waits as long as it takes, <see cref="TimeSpan.Zero"/> not at all.</param>
    /// <param name="partition">The partition; null for the default one.</param>
    /// <param name="partitionTtl">How long after this put the partition is cleared. Default 24 hours (the server's setting).</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <exception cref="QueueFullException">No room came before <paramref name="timeout"/>.</exception>
    /// <exception cref="RequestSizeException">The value is over the item size limit, or a new partition is over the partition limit; the message names the limit.</exception>
    public Task PutAsync<T>(T value, TimeSpan? timeout = null, string? partition = null, TimeSpan? partitionTtl = null, CancellationToken cancellationToken = default) =>
        PutManyAsync([value], timeout, partition, partitionTtl, cancellationToken);

    /// <summary>Puts values at the end of a partition, all together or none, waiting while there is no room for all of them.</summary>
    /// <inheritdoc cref="PutAsync{T}(T, TimeSpan?, string?, TimeSpan?, CancellationToken)"/>
    public async Task PutManyAsync<T>(IEnumerable<T> values, TimeSpan? timeout = null, string? partition = null, TimeSpan? partitionTtl = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        var items = values.Select(v => Json(v)).ToList();
        if (items.Count == 0)
        {
            return;
        }
        await EnsureAsync(cancellationToken).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var wait = Remaining(timeout, clock);
            var answer = await Client.SendAsync(HttpMethod.Post, Routes.QueuePut(Name),
                new QueuePutRequest(items, partition, partitionTtl?.TotalSeconds, wait.TotalSeconds),
                ProtocolJsonContext.Default.QueuePutRequest, ProtocolJsonContext.Default.QueuePutResponse, cancellationToken).ConfigureAwait(false);
            if (answer.Accepted)
            {
                return;
            }
            if (timeout is { } limit && clock.Elapsed >= limit)
            {
                throw new QueueFullException($"Queue '{Name}'{Describe(partition)} had no room for {items.Count} item(s) within {limit.TotalSeconds:0.###} s.");
            }
        }
    }

    /// <summary>Takes the value at the front of a partition, waiting for one.</summary>
    /// <param name="timeout">How long to wait; null (the default) waits as long as it takes, <see cref="TimeSpan.Zero"/> not at all.</param>
    /// <param name="partition">The partition; null for the default one.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <exception cref="QueueEmptyException">No value came before <paramref name="timeout"/>.</exception>
    /// <exception cref="DeserializationException">The value is not a <typeparamref name="T"/>; it has left the queue.</exception>
    public async Task<T> GetAsync<T>(TimeSpan? timeout = null, string? partition = null, CancellationToken cancellationToken = default)
    {
        var values = await GetManyAsync<T>(1, timeout, partition, cancellationToken).ConfigureAwait(false);
        return values.Count > 0
            ? values[0]
            : throw new QueueEmptyException($"Queue '{Name}'{Describe(partition)} had no item within {timeout?.TotalSeconds ?? 0:0.###} s.");
    }

    /// <summary>
    /// Takes up to <paramref name="count"/> values from the front of a partition, waiting for at least one; an empty
    /// list when none came within <paramref name="timeout"/>.
    /// </summary>
    /// <inheritdoc cref="GetAsync{T}(TimeSpan?, string?, CancellationToken)"/>
    public async Task<IReadOnlyList<T>> GetManyAsync<T>(int count, TimeSpan? timeout = null, string? partition = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        await EnsureAsync(cancellationToken).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var wait = Remaining(timeout, clock);
            var answer = await Client.SendAsync(HttpMethod.Post, Routes.QueueGet(Name), new QueueGetRequest(count, partition, wait.TotalSeconds),
                ProtocolJsonContext.Default.QueueGetRequest, ProtocolJsonContext.Default.QueueValues, cancellationToken).ConfigureAwait(false);
            if (answer.Values.Count > 0)
            {
                return [.. answer.Values.Select((v, i) => Read<T>(v, $"Queue '{Name}'{Describe(partition)}, item {i} of a get:"))];
            }
            if (timeout is { } limit && clock.Elapsed >= limit)
            {
                return [];
            }
        }
    }

    /// <summary>How many items a partition holds, or with <paramref name="total"/> the whole queue.</summary>
    public async Task<long> CountAsync(string? partition = null, bool total = false, CancellationToken cancellationToken = default)
    {
        await EnsureAsync(cancellationToken).ConfigureAwait(false);
        return (await Client.SendAsync<object, CountResponse>(HttpMethod.Get, Routes.QueueLen(Name, partition, total), null, null,
            ProtocolJsonContext.Default.CountResponse, cancellationToken).ConfigureAwait(false)).Count;
    }

    /// <summary>Removes every item of a partition, or with <paramref name="all"/> of every partition.</summary>
    public async Task ClearAsync(string? partition = null, bool all = false, CancellationToken cancellationToken = default)
    {
        await EnsureAsync(cancellationToken).ConfigureAwait(false);
        await Client.SendAsync<QueueClearRequest, object>(HttpMethod.Post, Routes.QueueClear(Name), new QueueClearRequest(partition, all),
            ProtocolJsonContext.Default.QueueClearRequest, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The items of a partition in order, left in the queue. After the last item it waits up to
    /// <paramref name="itemPollTimeout"/> for another (default: not at all) and ends when none comes.
    /// </summary>
    public async IAsyncEnumerable<T> IterateAsync<T>(TimeSpan? itemPollTimeout = null, string? partition = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await EnsureAsync(cancellationToken).ConfigureAwait(false);
        long after = 0;
        while (true)
        {
            var page = await Client.SendAsync<object, QueueItems>(HttpMethod.Get, Routes.QueueItems(Name, after, 100, partition, itemPollTimeout ?? TimeSpan.Zero), null, null,
                ProtocolJsonContext.Default.QueueItems, cancellationToken).ConfigureAwait(false);
            if (page.Items.Count == 0)
            {
                yield break;
            }
            foreach (var item in page.Items)
            {
                yield return Read<T>(item.Value, $"Queue '{Name}'{Describe(partition)}, item {item.Id}:");
            }
            after = page.Next;
        }
    }

    /// <summary>The wait to ask the server for: what is left of the timeout, at most its cap; a caller without one asks for the cap each time.</summary>
    private static TimeSpan Remaining(TimeSpan? timeout, Stopwatch clock)
    {
        var cap = TimeSpan.FromSeconds(ObjectLimits.MaxWaitSeconds);
        if (timeout is not { } limit)
        {
            return cap;
        }
        var left = limit - clock.Elapsed;
        return left <= TimeSpan.Zero ? TimeSpan.Zero : left < cap ? left : cap;
    }

    private static string Describe(string? partition) => partition is null ? "" : $" (partition '{partition}')";
}
