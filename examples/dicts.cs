// The seed's cached compute: a Dict shared by every container remembers results; PutAsync(skipIfExists) is a lock.
// Run it with: ferry run examples/dicts.cs
using Ferry;

var app = new App("dicts-example");
var cachedCompute = app.Function(CachedCompute);
var claim = app.Function(Claim);

app.LocalEntrypoint(async () =>
{
    var cache = Dict.FromName("my-cache", createIfMissing: true);
    await cache.ClearAsync();
    Console.WriteLine(await cachedCompute.RemoteAsync("ferry"));
    Console.WriteLine(await cachedCompute.RemoteAsync("ferry"));
    var winners = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => claim.RemoteAsync($"worker-{i}")));
    Console.WriteLine($"{winners.Count(w => w)} of {winners.Length} claims won the lock, held by {await cache.GetAsync<string>("lock")}.");
    await foreach (var (key, value) in cache.ItemsAsync<string, string>())
    {
        Console.WriteLine($"  {key} = {value}");
    }
});

return await app.RunAsync(args);

static async Task<string> CachedCompute(string key)
{
    var cache = Dict.FromName("my-cache", createIfMissing: true);
    if (await cache.ContainsAsync(key))
    {
        return $"{key}: {await cache.GetAsync<string>(key)} (from the cache)";
    }
    var result = new string(key.Reverse().ToArray()).ToUpperInvariant();
    await cache.PutAsync(key, result);
    return $"{key}: {result} (computed)";
}

static Task<bool> Claim(string who) => Dict.FromName("my-cache").PutAsync("lock", who, skipIfExists: true);
