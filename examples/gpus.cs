// GPU functions and classes from seed 001: `gpu="H100", memory=32768, timeout=600` on a function, and LLM inference
// on a GPU class with its own image. Run it with: ferry run examples/gpus.cs
//
// Ferry places a GPU container only on a worker with a free GPU of that type: one that nvidia-smi reports, or one in
// a configured inventory (`ferry server --gpus H100:1`). Where there is none, the input waits in the backlog instead
// of failing, and this example shows the wait and cancels after a few seconds.
using Ferry;

var app = new App("gpus");

var train = app.Function(TrainModel, new FunctionOptions
{
    Gpu = "H100",                          // gpu="H100"; "A100:2" asks for two, "H100,A100" is a fallback list
    Memory = 32768,                        // memory=32768 (MiB)
    Timeout = TimeSpan.FromMinutes(10),    // timeout=600
});

var llm = app.Cls<Llm>(new FunctionOptions
{
    Gpu = "H100",
    Image = Image.DebianSlim().AptInstall("ca-certificates"),
});

app.LocalEntrypoint(async () =>
{
    var call = await train.SpawnAsync([1, 2, 3, 4]);
    try
    {
        Console.WriteLine($"trained: {await call.GetAsync(TimeSpan.FromSeconds(5))}");
        Console.WriteLine(await llm.Method(m => m.Generate).RemoteAsync("Hello"));
    }
    catch (TimeoutException)
    {
        var stats = await train.GetCurrentStatsAsync();
        Console.WriteLine($"No H100 is free on any worker: {stats.Backlog} input waiting, {stats.Containers} containers. " +
            "Start a worker on a GPU host, or try placement with `ferry server --gpus H100:1`.");
        await call.CancelAsync();
    }
});

return await app.RunAsync(args);

static double TrainModel(int[] data)
{
    // A stand-in for model.fit(data): the GPUs this container may use are in CUDA_VISIBLE_DEVICES.
    Console.WriteLine($"training on GPU {Environment.GetEnvironmentVariable("CUDA_VISIBLE_DEVICES")}");
    return data.Average();
}

public sealed class Llm
{
    private Func<string, string>? _generate;

    [Enter]
    public void Load() => _generate = prompt => $"{prompt}, world (from the GPU {Environment.GetEnvironmentVariable("CUDA_VISIBLE_DEVICES")})";

    [Method]
    public string Generate(string prompt) => _generate!(prompt);
}
