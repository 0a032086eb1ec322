// The seed's web_server(port): any process listening on a port, here Python's http.server from an apt package.
// Run it with: ferry run examples/web_server.cs   (a runc worker builds the image; the process runtime uses the host's python3)
// then: curl http://files.localhost:7326/
using System.Diagnostics;
using Ferry;

var app = new App("web-server");

app.WebServer(StartAsync, port: 8000,
    new WebEndpointOptions { Label = "files" },
    new FunctionOptions { Image = Image.DebianSlim().AptInstall("python3") },
    startupTimeout: TimeSpan.FromSeconds(20));

return await app.RunAsync(args);

static Task StartAsync(int port, CancellationToken cancellationToken)
{
    // Listen on all interfaces: the gateway reaches a runc container through its own address.
    Process.Start("python3", ["-m", "http.server", port.ToString(), "--bind", "0.0.0.0"]);
    return Task.CompletedTask;
}
