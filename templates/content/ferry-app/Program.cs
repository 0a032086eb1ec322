using Ferry;

// Run it with `ferry run .` from this directory.
var app = new App("FerryApp");
var square = app.Function(Square);
var greet = app.Cls<Greeter>().Method(g => g.Greet);

app.LocalEntrypoint(async () =>
{
    Console.WriteLine(await square.RemoteAsync(7));
    await foreach (var value in square.MapAsync(Enumerable.Range(1, 5)))
    {
        Console.WriteLine(value);
    }
    Console.WriteLine(await greet.RemoteAsync("Ferry"));
});

return await app.RunAsync(args);

static int Square(int x) => x * x;

/// <summary>A class whose [Enter] hook runs once per container, before its methods serve any input.</summary>
public sealed class Greeter
{
    private string _greeting = "";

    [Enter]
    public void Load() => _greeting = "Hello";

    [Method]
    public string Greet(string name) => $"{_greeting}, {name}, from a container.";
}
