// Memory snapshots from seeds 000 and 001: `@app.cls(enable_memory_snapshot=True)` with `@modal.enter(snap=True)`.
// Run it with: ferry run examples/memory_snapshot.cs
//
// The snap hook runs first and the regular one after it. Where the worker can checkpoint containers (CRIU), the state
// after the snap hook is what later containers would start from; elsewhere, including this version of Ferry, the
// worker says once that snapshots are unavailable and containers cold-start, running both hooks.
using System.Diagnostics;
using Ferry;

var app = new App("memory-snapshot");

var model = app.Cls<FastStartModel>(new FunctionOptions { EnableMemorySnapshot = true });

app.LocalEntrypoint(async () =>
{
    var predict = model.Method(m => m.Predict);
    Console.WriteLine(await predict.RemoteAsync("snapshots"));
});

return await app.RunAsync(args);

public sealed class FastStartModel
{
    private Dictionary<string, int>? _model;
    private string _loadedIn = "";

    // Runs once and would be checkpointed: the expensive, deterministic part of start-up.
    [Enter(Snap = true)]
    public void LoadModel()
    {
        var clock = Stopwatch.StartNew();
        _model = Enumerable.Range(0, 200_000).ToDictionary(i => $"token{i}", i => i);
        _loadedIn = $"{clock.ElapsedMilliseconds} ms";
    }

    // Runs in every container after the snapshot point: what must not be shared, such as connections.
    [Enter]
    public void Connect() => Console.WriteLine($"model of {_model!.Count} tokens loaded in {_loadedIn}");

    [Method]
    public string Predict(string input) => $"{input}: {_model!.Count} tokens";
}
