// The Quick Start: one function that runs in a container, called from a local entrypoint.
// Run it with: ferry run examples/hello.cs
using Ferry;

var app = new App("my-app");

var hello = app.Function(Hello);

app.LocalEntrypoint(async () =>
{
    Console.WriteLine(await hello.RemoteAsync());
});

return await app.RunAsync(args);

static string Hello() => "Hello from Ferry!";
