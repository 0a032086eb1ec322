// Fan-out with map, starmap and for_each, and background work with spawn and spawn_map.
// Run it with: ferry run examples/map_and_spawn.cs
using Ferry;

var app = new App("map-and-spawn");

var square = app.Function(Square);
var add = app.Function(Add);
var slowEcho = app.Function(SlowEchoAsync, name: "slow_echo");

app.LocalEntrypoint(async () =>
{
    // Results arrive in input order by default...
    var ordered = new List<int>();
    await foreach (var value in square.MapAsync(Enumerable.Range(1, 10)))
    {
        ordered.Add(value);
    }
    Console.WriteLine($"map (ordered):   {string.Join(", ", ordered)}");

    // ...or as they complete.
    var total = 0;
    await foreach (var value in square.MapAsync(Enumerable.Range(1, 100), orderOutputs: false))
    {
        total += value;
    }
    Console.WriteLine($"map (unordered): sum of squares 1..100 = {total}");

    // A function of several arguments maps over tuples (Modal's starmap).
    var sums = new List<int>();
    await foreach (var sum in add.StarMapAsync([(1, 2), (10, 20), (100, 200)]))
    {
        sums.Add(sum);
    }
    Console.WriteLine($"starmap:         {string.Join(", ", sums)}");

    // ForEachAsync runs every input for its side effects and discards the results.
    await square.ForEachAsync(Enumerable.Range(0, 20));
    Console.WriteLine("for_each:        done");

    // SpawnAsync returns at once; the call can be awaited later, even found again by its id.
    var call = await slowEcho.SpawnAsync("spawned");
    Console.WriteLine($"spawned call {call.Id}");
    var again = FunctionCall<string>.FromId(call.Id);
    Console.WriteLine($"spawn result:    {await again.GetAsync(TimeSpan.FromSeconds(60))}");

    // GetAsync with a short timeout throws TimeoutException while the call runs on; CancelAsync stops it.
    var slow = await slowEcho.SpawnAsync("never mind");
    try
    {
        await slow.GetAsync(TimeSpan.FromMilliseconds(100));
    }
    catch (TimeoutException)
    {
        Console.WriteLine("not done after 100 ms; cancelling");
        await slow.CancelAsync();
    }

    // SpawnMapAsync queues every input durably and returns a handle without waiting for results.
    var map = await square.SpawnMapAsync(Enumerable.Range(0, 50));
    Console.WriteLine($"spawn_map queued as {map.Id}");

    // Any program holding the id can follow the map: its results in input order, and its progress.
    var followed = FunctionCallMap<int>.FromId(map.Id);
    var squares = 0;
    await foreach (var result in followed.IterateAsync())
    {
        squares += result;
    }
    var stats = await followed.GetStatsAsync();
    Console.WriteLine($"spawn_map: {stats.Succeeded} succeeded, {stats.Failed} failed; the squares add up to {squares}");
});

return await app.RunAsync(args);

static int Square(int x) => x * x;

static int Add(int a, int b) => a + b;

static async Task<string> SlowEchoAsync(string text)
{
    await Task.Delay(1_000);
    return text;
}
