using System.Text;
using Ferry.Protocol;
using Ferry.Server.Api;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;

namespace Ferry.Server.Objects;

/// <summary>
/// Named Dicts: JSON keys and values, entries that expire <see cref="ObjectOptions.DictEntryTtl"/> after their last
/// read or write on the server's clock, and limits that answer 413 naming the key and the limit.
/// </summary>
internal sealed class DictService(IObjectStore store, TimeProvider clock, ServerOptions options)
{
    private ObjectOptions Limits => options.Objects;

    public async Task<ObjectSummary> CreateAsync(CreateObjectRequest request, CancellationToken cancellationToken)
    {
        CheckName(request.Name);
        if (!await store.CreateObjectAsync(ObjectKinds.Dict, request.Name, clock.GetUtcNow(), cancellationToken).ConfigureAwait(false) && !request.ExistOk)
        {
            throw new ConflictException($"Dict '{request.Name}' already exists.");
        }
        return await GetAsync(request.Name, cancellationToken).ConfigureAwait(false);
    }

    /// <exception cref="NotFoundException">No dict has the name.</exception>
    public async Task<ObjectSummary> GetAsync(string name, CancellationToken cancellationToken)
    {
        CheckName(name);
        var found = await store.GetObjectAsync(ObjectKinds.Dict, name, cancellationToken).ConfigureAwait(false)
            ?? throw new NotFoundException($"Dict '{name}' does not exist; create it with Dict.FromName(\"{name}\", createIfMissing: true).");
        return new ObjectSummary(found.Name, found.CreatedAt);
    }

    public async Task<IReadOnlyList<ObjectSummary>> ListAsync(CancellationToken cancellationToken) =>
        [.. (await store.ListObjectsAsync(ObjectKinds.Dict, cancellationToken).ConfigureAwait(false)).Select(o => new ObjectSummary(o.Name, o.CreatedAt))];

    public async Task DeleteAsync(string name, CancellationToken cancellationToken)
    {
        CheckName(name);
        if (!await store.DeleteObjectAsync(ObjectKinds.Dict, name, cancellationToken).ConfigureAwait(false))
        {
            throw new NotFoundException($"Dict '{name}' does not exist.");
        }
    }

    public async Task<DictValueResponse> GetValueAsync(string name, DictKeyRequest request, CancellationToken cancellationToken)
    {
        await GetAsync(name, cancellationToken).ConfigureAwait(false);
        var key = Key(name, request.Key);
        var now = clock.GetUtcNow();
        if (await store.GetDictEntryAsync(name, key, now - Limits.DictEntryTtl, cancellationToken).ConfigureAwait(false) is not { } entry)
        {
            return new DictValueResponse(false);
        }
        if (now - entry.TouchedAt >= Limits.DictTouchGranularity)
        {
            await store.TouchDictEntryAsync(name, key, now, cancellationToken).ConfigureAwait(false);
        }
        return new DictValueResponse(true, ObjectJson.Parse(entry.Value));
    }

    public async Task<bool> ContainsAsync(string name, DictKeyRequest request, CancellationToken cancellationToken) =>
        (await GetValueAsync(name, request, cancellationToken).ConfigureAwait(false)).Found;

    public async Task<int> PutAsync(string name, DictPutRequest request, CancellationToken cancellationToken)
    {
        if (request.Entries is null)
        {
            throw new BadRequestException("The field 'entries' is required.");
        }
        if (request.Entries.Count > Limits.MaxDictEntriesPerUpdate)
        {
            throw new PayloadTooLargeException($"Dict '{name}': one update may write at most {Limits.MaxDictEntriesPerUpdate} entries; it had {request.Entries.Count}.");
        }
        var entries = new List<(string Key, string Value)>(request.Entries.Count);
        foreach (var entry in request.Entries)
        {
            var key = Key(name, entry.Key);
            var value = ObjectJson.Compact(entry.Value);
            var bytes = Encoding.UTF8.GetByteCount(value);
            if (bytes > Limits.MaxDictValueBytes)
            {
                throw new PayloadTooLargeException(
                    $"Dict '{name}': the value for key {ObjectJson.Show(key)} is {bytes} bytes of JSON, over the limit of {ObjectJson.Size(Limits.MaxDictValueBytes)} per value.");
            }
            entries.Add((key, value));
        }
        await GetAsync(name, cancellationToken).ConfigureAwait(false);
        var now = clock.GetUtcNow();
        return await store.PutDictEntriesAsync(name, entries, request.SkipIfExists, now, now - Limits.DictEntryTtl, cancellationToken).ConfigureAwait(false);
    }

    public async Task<DictValueResponse> PopAsync(string name, DictKeyRequest request, CancellationToken cancellationToken)
    {
        await GetAsync(name, cancellationToken).ConfigureAwait(false);
        var entry = await store.PopDictEntryAsync(name, Key(name, request.Key), clock.GetUtcNow() - Limits.DictEntryTtl, cancellationToken).ConfigureAwait(false);
        return entry is null ? new DictValueResponse(false) : new DictValueResponse(true, ObjectJson.Parse(entry.Value));
    }

    public async Task<DictItems> ItemsAsync(string name, string? after, int limit, CancellationToken cancellationToken)
    {
        await GetAsync(name, cancellationToken).ConfigureAwait(false);
        if (limit is < 1 or > 10_000)
        {
            throw new BadRequestException($"The parameter 'limit' must be between 1 and 10000, not {limit}.");
        }
        var page = await store.ListDictEntriesAsync(name, after, limit, clock.GetUtcNow() - Limits.DictEntryTtl, cancellationToken).ConfigureAwait(false);
        return new DictItems([.. page.Select(e => new DictEntry(ObjectJson.Parse(e.Key), ObjectJson.Parse(e.Value)))], page.Count == limit ? page[^1].Key : null);
    }

    public async Task<long> CountAsync(string name, CancellationToken cancellationToken)
    {
        await GetAsync(name, cancellationToken).ConfigureAwait(false);
        return await store.CountDictEntriesAsync(name, clock.GetUtcNow() - Limits.DictEntryTtl, cancellationToken).ConfigureAwait(false);
    }

    public async Task ClearAsync(string name, CancellationToken cancellationToken)
    {
        await GetAsync(name, cancellationToken).ConfigureAwait(false);
        await store.ClearDictAsync(name, cancellationToken).ConfigureAwait(false);
    }

    private string Key(string name, System.Text.Json.JsonElement key)
    {
        if (key.ValueKind == System.Text.Json.JsonValueKind.Undefined)
        {
            throw new BadRequestException("The field 'key' is required.");
        }
        var text = ObjectJson.Compact(key);
        var bytes = Encoding.UTF8.GetByteCount(text);
        return bytes <= Limits.MaxDictKeyBytes
            ? text
            : throw new PayloadTooLargeException($"Dict '{name}': a key of {bytes} bytes of JSON is over the limit of {ObjectJson.Size(Limits.MaxDictKeyBytes)} per key.");
    }

    public static void CheckName(string? name)
    {
        if (!ObjectLimits.IsName(name))
        {
            throw new BadRequestException($"'{name}' is not an object name: use 1 to {ObjectLimits.MaxNameLength} letters, digits, '-', '_' or '.'.");
        }
    }
}
