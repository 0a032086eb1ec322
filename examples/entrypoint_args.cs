// A local entrypoint's parameters become command-line options, as in Modal.
// Run it with: ferry run examples/entrypoint_args.cs -- --name Ada --count 3
using Ferry;

var app = new App("entrypoint-args");

var greet = app.Function(Greet);

app.LocalEntrypoint(Main);

return await app.RunAsync(args);

// --name is required; --count and --shout have defaults.
async Task Main(string name, int count = 1, bool shout = false)
{
    await foreach (var line in greet.MapAsync(Enumerable.Repeat(name, count)))
    {
        Console.WriteLine(shout ? line.ToUpperInvariant() : line);
    }
}

static string Greet(string name) => $"Hello, {name}, from container {Environment.GetEnvironmentVariable("FERRY_CONTAINER_ID")}!";
