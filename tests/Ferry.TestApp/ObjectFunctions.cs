using Ferry;

namespace Ferry.TestApp;

/// <summary>Functions that use Secrets, Dicts and Queues from inside containers.</summary>
public sealed class ObjectFunctions
{
    /// <summary>The named secret <see cref="SecretEnv"/> attaches; tests create it.</summary>
    public const string SecretName = "ferry-test-secret";

    public ObjectFunctions(App app)
    {
        SecretEnv = app.Function<string, string>(name => Environment.GetEnvironmentVariable(name) ?? "<unset>",
            new FunctionOptions { Secrets = [Secret.FromName(SecretName, ["API_KEY"]), Secret.FromDictionary(new Dictionary<string, string?> { ["LOCAL_KEY"] = "local-value-7d1f" })] },
            name: "secret_env");
        MissingSecretKey = app.Function<int, int>(x => x, new FunctionOptions { Secrets = [Secret.FromName(SecretName, ["NO_SUCH_KEY"])] }, name: "missing_secret_key");
        Consume = app.Function<string, int[]>(ConsumeAsync, new FunctionOptions { MaxInputs = 1, MaxContainers = 8 }, name: "consume");
        Produce = app.Function<string, int, int, int>(ProduceAsync, new FunctionOptions { MaxInputs = 1, MaxContainers = 2 }, name: "produce");
        Claim = app.Function<string, bool>(ClaimAsync, new FunctionOptions { MaxInputs = 1, MaxContainers = 8 }, name: "claim");
        DictRoundTrip = app.Function<string, string, string>(DictRoundTripAsync, name: "dict_round_trip");
        Measure = app.Function<string, int, int, double[]>(MeasureAsync, new FunctionOptions { Timeout = TimeSpan.FromMinutes(10) }, name: "object_measure");
    }

    public Function<string, string> SecretEnv { get; }

    public Function<int, int> MissingSecretKey { get; }

    /// <summary>Takes ints from a queue until it takes -1; returns the others in the order taken.</summary>
    public Function<string, int[]> Consume { get; }

    /// <summary>Puts <c>count</c> ints from <c>start</c> to a queue in batches of 100; returns how many.</summary>
    public Function<string, int, int, int> Produce { get; }

    /// <summary>Waits for a "go" on the queue named after the dict, then tries to take a dict's "lock" key with its container id.</summary>
    public Function<string, bool> Claim { get; }

    /// <summary>Writes a value under a key of a dict and reads it back, from a container.</summary>
    public Function<string, string, string> DictRoundTrip { get; }

    /// <summary>
    /// Times Dict and Queue operations from inside a container: <c>operations</c> puts then gets of one dict, and
    /// <c>items</c> queue items put then taken in batches of 100. Returns the put p50 and get p50 in milliseconds
    /// and the queue's items per second.
    /// </summary>
    public Function<string, int, int, double[]> Measure { get; }

    private static async Task<int[]> ConsumeAsync(string queueName)
    {
        var queue = Queue.FromName(queueName);
        var taken = new List<int>();
        while (true)
        {
            var item = await queue.GetAsync<int>(TimeSpan.FromSeconds(120));
            if (item == -1)
            {
                return [.. taken];
            }
            taken.Add(item);
        }
    }

    private static async Task<int> ProduceAsync(string queueName, int start, int count)
    {
        var queue = Queue.FromName(queueName);
        foreach (var batch in Enumerable.Range(start, count).Chunk(100))
        {
            await queue.PutManyAsync(batch);
        }
        return count;
    }

    private static async Task<bool> ClaimAsync(string dictName)
    {
        await Queue.FromName(dictName).GetAsync<string>(TimeSpan.FromSeconds(120));
        var id = Environment.GetEnvironmentVariable("FERRY_CONTAINER_ID")!;
        return await Dict.FromName(dictName).PutAsync("lock", id, skipIfExists: true);
    }

    private static async Task<string> DictRoundTripAsync(string dictName, string value)
    {
        var dict = Dict.FromName(dictName, createIfMissing: true);
        await dict.PutAsync("from-container", value);
        return await dict.GetAsync<string>("from-container") ?? "<missing>";
    }

    private static async Task<double[]> MeasureAsync(string name, int operations, int items)
    {
        var dict = Dict.FromName(name, createIfMissing: true);
        await dict.PutAsync("warm", 0);
        var puts = new List<double>(operations);
        var gets = new List<double>(operations);
        var clock = new System.Diagnostics.Stopwatch();
        for (var i = 0; i < operations; i++)
        {
            clock.Restart();
            await dict.PutAsync($"k{i}", i);
            puts.Add(clock.Elapsed.TotalMilliseconds);
        }
        for (var i = 0; i < operations; i++)
        {
            clock.Restart();
            await dict.GetAsync<int>($"k{i}");
            gets.Add(clock.Elapsed.TotalMilliseconds);
        }
        var queue = Queue.FromName(name, createIfMissing: true);
        await queue.CountAsync();
        var taken = 0;
        clock.Restart();
        for (var start = 0; start < items; start += 100)
        {
            await queue.PutManyAsync(Enumerable.Range(start, 100));
            taken += (await queue.GetManyAsync<int>(100, TimeSpan.FromSeconds(10))).Count;
        }
        var rate = taken / clock.Elapsed.TotalSeconds;
        puts.Sort();
        gets.Sort();
        return [puts[puts.Count / 2], gets[gets.Count / 2], rate];
    }
}
