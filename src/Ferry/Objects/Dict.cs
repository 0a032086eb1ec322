using System.Runtime.CompilerServices;
using System.Text.Json;
using Ferry.Protocol;

namespace Ferry;

/// <summary>
/// A named key-value store on the server, shared by local code and every container (Modal's <c>modal.Dict</c>). Keys
/// and values are JSON: any value <c>System.Text.Json</c> writes and reads. A key is equal to another when their JSON
/// is, so <c>1</c> and <c>"1"</c> are different keys. An entry expires 7 days after it was last read or written (the
/// server's setting). Entries survive server restarts.
/// </summary>
/// <example>
/// <code>
/// var cache = Dict.FromName("my-cache", createIfMissing: true);
/// if (await cache.ContainsAsync(key)) return await cache.GetAsync&lt;string&gt;(key);
/// await cache.PutAsync(key, result);
/// </code>
/// </example>
public sealed class Dict : ObjectHandle
{
    private const int PageSize = 1000;

    private Dict(string name, bool createIfMissing, FerryConnection? connection) : base(name, createIfMissing, connection, "dict")
    {
    }

    private protected override string CreateRoute => Routes.Dicts;

    /// <summary>A handle on the dict named <paramref name="name"/>. Nothing is sent until the first operation.</summary>
    /// <param name="name">1 to 64 letters, digits, '-', '_' or '.'.</param>
    /// <param name="createIfMissing">Create the dict on first use if it does not exist. Default false: operations on a
    /// missing dict throw a <see cref="NotFoundException"/> that names it.</param>
    /// <param name="connection">The server; default the environment's (in a container, the container's own).</param>
    /// <exception cref="ArgumentException">The name is not valid.</exception>
    public static Dict FromName(string name, bool createIfMissing = false, FerryConnection? connection = null) => new(name, createIfMissing, connection);

    /// <summary>Deletes the dict named <paramref name="name"/> and every entry. Needs a client token.</summary>
    /// <exception cref="NotFoundException">No dict has the name.</exception>
    public static Task DeleteAsync(string name, FerryConnection? connection = null, CancellationToken cancellationToken = default) =>
        (connection?.Client ?? Hosting.FerryContext.Client).SendAsync<object, object>(HttpMethod.Delete, Routes.Dict(name), null, null, null, cancellationToken);

    /// <summary>The value of <paramref name="key"/>, or <paramref name="defaultValue"/> if it has none. A read resets the entry's expiry.</summary>
    /// <exception cref="DeserializationException">The stored value is not a <typeparamref name="T"/>; the message names the key.</exception>
    /// <exception cref="NotFoundException">The dict does not exist.</exception>
    public async Task<T> GetAsync<T>(object key, T defaultValue = default!, CancellationToken cancellationToken = default)
    {
        await EnsureAsync(cancellationToken).ConfigureAwait(false);
        var found = await Client.SendAsync(HttpMethod.Post, Routes.DictGet(Name), new DictKeyRequest(Json(key)), ProtocolJsonContext.Default.DictKeyRequest,
            ProtocolJsonContext.Default.DictValueResponse, cancellationToken).ConfigureAwait(false);
        return found is { Found: true, Value: { } value } ? Read<T>(value, $"Dict '{Name}', key {Show(key)}:") : defaultValue;
    }

    /// <summary>Whether <paramref name="key"/> has a value. Resets the entry's expiry like a read.</summary>
    public async Task<bool> ContainsAsync(object key, CancellationToken cancellationToken = default)
    {
        await EnsureAsync(cancellationToken).ConfigureAwait(false);
        return (await Client.SendAsync(HttpMethod.Post, Routes.DictContains(Name), new DictKeyRequest(Json(key)), ProtocolJsonContext.Default.DictKeyRequest,
            ProtocolJsonContext.Default.DictValueResponse, cancellationToken).ConfigureAwait(false)).Found;
    }

    /// <summary>
    /// Sets <paramref name="key"/> to <paramref name="value"/>. With <paramref name="skipIfExists"/>, a key that already
    /// has a value keeps it and the put returns false: of several concurrent puts of one key, exactly one returns true,
    /// so it serves as a lock.
    /// </summary>
    /// <returns>Whether the value was written.</returns>
    /// <exception cref="RequestSizeException">The key or value is over the server's limit; the message names the limit.</exception>
    public async Task<bool> PutAsync<T>(object key, T value, bool skipIfExists = false, CancellationToken cancellationToken = default)
    {
        await EnsureAsync(cancellationToken).ConfigureAwait(false);
        var written = await Client.SendAsync(HttpMethod.Post, Routes.DictPut(Name), new DictPutRequest([new DictEntry(Json(key), Json(value))], skipIfExists),
            ProtocolJsonContext.Default.DictPutRequest, ProtocolJsonContext.Default.DictPutResponse, cancellationToken).ConfigureAwait(false);
        return written.Written > 0;
    }

    /// <summary>Sets every entry of <paramref name="entries"/>, in batches of up to 1,000.</summary>
    public async Task UpdateAsync<TKey, TValue>(IEnumerable<KeyValuePair<TKey, TValue>> entries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        await EnsureAsync(cancellationToken).ConfigureAwait(false);
        foreach (var chunk in entries.Chunk(PageSize))
        {
            await Client.SendAsync(HttpMethod.Post, Routes.DictPut(Name), new DictPutRequest([.. chunk.Select(e => new DictEntry(Json(e.Key), Json(e.Value)))]),
                ProtocolJsonContext.Default.DictPutRequest, ProtocolJsonContext.Default.DictPutResponse, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Removes <paramref name="key"/> and returns its value.</summary>
    /// <exception cref="NotFoundException">The key has no value, or the dict does not exist.</exception>
    public async Task<T> PopAsync<T>(object key, CancellationToken cancellationToken = default)
    {
        await EnsureAsync(cancellationToken).ConfigureAwait(false);
        var found = await Client.SendAsync(HttpMethod.Post, Routes.DictPop(Name), new DictKeyRequest(Json(key)), ProtocolJsonContext.Default.DictKeyRequest,
            ProtocolJsonContext.Default.DictValueResponse, cancellationToken).ConfigureAwait(false);
        return found is { Found: true, Value: { } value }
            ? Read<T>(value, $"Dict '{Name}', key {Show(key)}:")
            : throw new NotFoundException($"Dict '{Name}' has no key {Show(key)}.");
    }

    /// <summary>How many live entries the dict has.</summary>
    public async Task<long> CountAsync(CancellationToken cancellationToken = default)
    {
        await EnsureAsync(cancellationToken).ConfigureAwait(false);
        return (await Client.SendAsync<object, CountResponse>(HttpMethod.Get, Routes.DictCount(Name), null, null, ProtocolJsonContext.Default.CountResponse, cancellationToken)
            .ConfigureAwait(false)).Count;
    }

    /// <summary>Removes every entry.</summary>
    public async Task ClearAsync(CancellationToken cancellationToken = default)
    {
        await EnsureAsync(cancellationToken).ConfigureAwait(false);
        await Client.SendAsync<object, object>(HttpMethod.Post, Routes.DictClear(Name), null, null, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The entries, in pages, ordered by their keys' JSON. Entries written while it runs may or may not appear.</summary>
    public async IAsyncEnumerable<KeyValuePair<TKey, TValue>> ItemsAsync<TKey, TValue>([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var entry in EntriesAsync(cancellationToken).ConfigureAwait(false))
        {
            var key = Read<TKey>(entry.Key, $"Dict '{Name}', a key ({entry.Key.GetRawText()}):");
            yield return new(key, Read<TValue>(entry.Value, $"Dict '{Name}', key {entry.Key.GetRawText()}:"));
        }
    }

    /// <summary>The keys, ordered by their JSON.</summary>
    public async IAsyncEnumerable<TKey> KeysAsync<TKey>([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var entry in EntriesAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return Read<TKey>(entry.Key, $"Dict '{Name}', a key ({entry.Key.GetRawText()}):");
        }
    }

    /// <summary>The values, in their keys' order.</summary>
    public async IAsyncEnumerable<TValue> ValuesAsync<TValue>([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var entry in EntriesAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return Read<TValue>(entry.Value, $"Dict '{Name}', key {entry.Key.GetRawText()}:");
        }
    }

    private async IAsyncEnumerable<DictEntry> EntriesAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await EnsureAsync(cancellationToken).ConfigureAwait(false);
        string? after = null;
        do
        {
            var page = await Client.SendAsync<object, DictItems>(HttpMethod.Get, Routes.DictItems(Name, after, PageSize), null, null,
                ProtocolJsonContext.Default.DictItems, cancellationToken).ConfigureAwait(false);
            foreach (var entry in page.Items)
            {
                yield return entry;
            }
            after = page.Next;
        }
        while (after is not null);
    }

    private static string Show(object key)
    {
        var text = Json(key).GetRawText();
        return text.Length <= 80 ? text : text[..77] + "...";
    }
}
