#:package Ferry@0.1.0
using Ferry;

// Run it with `ferry run FerryFile.cs`. Add NuGet packages with #:package lines above, like `#:package Humanizer@3.0.10`.
var app = new App("FerryFile");
var square = app.Function(Square);

app.LocalEntrypoint(async () => Console.WriteLine(await square.RemoteAsync(7)));

return await app.RunAsync(args);

static int Square(int x) => x * x;
