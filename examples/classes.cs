// The class examples of seed 000 in C#: methods, configuration, enter/exit, parameters, state, variants (options,
// concurrency, batching), autoscaler updates and snapshot-phase hooks.
// Run it with: ferry run examples/classes.cs
//
// Where the seed loads a model, the stand-in below builds a lookup table and sleeps briefly, so loading takes real
// time once per container. GPU requests are left out: this machine has no GPU, and a request no worker can place
// waits for one. Set FERRY_EXAMPLE_GPU=A10G (with a worker started with --gpus A10G) to try placement.
using Ferry;

var app = new App("classes");

var gpu = Environment.GetEnvironmentVariable("FERRY_EXAMPLE_GPU");
var classOptions = new FunctionOptions
{
    Gpu = gpu,                      // @app.cls(gpu="A100"), only when a GPU is configured
    Memory = 512,                   // memory=
    Timeout = TimeSpan.FromMinutes(5),
    ScaledownWindow = TimeSpan.FromSeconds(10),
};

var model = app.Cls<Model>(classOptions);
var parameterized = app.Cls<ParameterizedModel>();
var counter = app.Cls<StatefulCounter>();
var embedder = app.Cls<Embedder>();

app.LocalEntrypoint(async () =>
{
    // Basic class: enter loads once, methods run on the loaded instance.
    var predict = model.Method(m => m.Predict);
    Console.WriteLine(await predict.RemoteAsync("hello"));
    Console.WriteLine(await model.Method(m => m.Tokens).RemoteAsync("several words here"));

    // Parameterized classes: each set of values has its own containers.
    var gpt2 = parameterized.With(new { ModelName = "gpt2", BatchSize = 16 }).Method(m => m.Predict);
    var gpt4 = parameterized.With(new { ModelName = "gpt4" }).Method(m => m.Predict);
    Console.WriteLine(await gpt2.RemoteAsync("Hello"));
    Console.WriteLine(await gpt4.RemoteAsync("World"));

    // State lives in the instance, per container.
    var increment = counter.Method(c => c.Increment);
    Console.WriteLine($"count: {await increment.RemoteAsync()}, {await increment.RemoteAsync()}, {await increment.RemoteAsync()}");

    // Runtime configuration: variants with other options, concurrency or batching run in their own pools.
    var custom = model.WithOptions(new FunctionOptions { Memory = 1024, Timeout = TimeSpan.FromMinutes(20) });
    Console.WriteLine(await custom.Method(m => m.Predict).RemoteAsync("with options"));
    var concurrent = model.WithConcurrency(maxInputs: 100, targetInputs: 80).Method(m => m.Predict);
    var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => concurrent.RemoteAsync($"input {i}")));
    Console.WriteLine($"concurrent: {answers.Length} answers");
    var embed = embedder.WithBatching(maxBatchSize: 32, wait: TimeSpan.FromMilliseconds(100)).BatchedMethod(e => e.Embed);
    var lengths = await Task.WhenAll(new[] { "a", "bb", "ccc" }.Select(t => embed.RemoteAsync(t)));
    Console.WriteLine($"batched: {string.Join(", ", lengths)}");

    // Autoscaling of one instance at run time, and its stats.
    await predict.UpdateAutoscalerAsync(minContainers: 1, maxContainers: 10, bufferContainers: 1);
    var stats = await predict.GetCurrentStatsAsync();
    Console.WriteLine($"stats: {stats.Containers} containers, {stats.Backlog} queued, {stats.RunningInputs} running");
});

return await app.RunAsync(args);

/// <summary>The seed's basic, configured and lifecycle classes in one.</summary>
public sealed class Model
{
    private Dictionary<string, int>? _vocabulary;

    // @modal.enter(snap=True): runs first. Memory snapshots are not taken yet, so it runs in every container.
    [Enter(Snap = true)]
    public void LoadWeights() => _vocabulary = Enumerable.Range(0, 50_000).ToDictionary(i => $"w{i}", i => i);

    // @modal.enter(): runs once per container, after the snapshot-phase hook.
    [Enter]
    public async Task WarmUpAsync()
    {
        await Task.Delay(300); // stand-in for moving a model to the GPU
        Console.WriteLine($"model loaded with {_vocabulary!.Count} entries");
    }

    [Method]
    public string Predict(string input) => $"prediction for '{input}' (vocabulary {_vocabulary!.Count})";

    [Method]
    public int Tokens(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;

    // @modal.exit(): cleanup when the container stops.
    [Exit]
    public void Cleanup() => Console.WriteLine("model container shutting down");
}

/// <summary>modal.parameter(): a required model name and an optional batch size.</summary>
public sealed class ParameterizedModel
{
    [Parameter]
    public required string ModelName { get; set; }

    [Parameter]
    public int BatchSize { get; set; } = 32;

    [Enter]
    public void Load() => Console.WriteLine($"Loading {ModelName} with batch size {BatchSize}");

    [Method]
    public string Predict(string input) => $"{ModelName}/{BatchSize}: {input}";
}

/// <summary>State in instance fields persists across calls served by the same container.</summary>
public sealed class StatefulCounter
{
    private int _count;

    [Enter]
    public void Initialize() => _count = 0;

    [Method]
    public int Increment() => ++_count;
}

/// <summary>Dynamic batching: callers send one text, the method receives up to a batch of them.</summary>
public sealed class Embedder
{
    [Method]
    [Batched(maxBatchSize: 8, waitMs: 50)]
    public List<int> Embed(List<string> texts) => [.. texts.Select(t => t.Length)];
}
