using System.Diagnostics;
using System.Net.WebSockets;
using Ferry;
using Ferry.Web;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Ferry.TestApp;

/// <summary>An order a POST endpoint binds from its JSON body.</summary>
public sealed record Order(string Item, int Quantity, decimal Price);

/// <summary>What the POST endpoint answers.</summary>
public sealed record Receipt(string Item, decimal Total);

/// <summary>The web endpoints the integration tests call through the gateway, each under its own label.</summary>
public static class WebFunctions
{
    public static void Register(App app)
    {
        app.WebEndpoint(Add, new WebEndpointOptions { Label = "it-get" });
        app.WebEndpoint(Buy, new WebEndpointOptions { Method = "POST", Label = "it-post" });
        app.WebEndpoint(Secret, new WebEndpointOptions { Label = "it-auth", RequiresAuth = true });
        app.WebEndpoint(Fail, new WebEndpointOptions { Label = "it-fail" });
        app.WebEndpoint(Events, new WebEndpointOptions { Label = "it-sse" });
        app.WebEndpoint(Held, new WebEndpointOptions { Label = "it-held" }, new FunctionOptions { MaxInputs = 4, ScaledownWindow = TimeSpan.FromSeconds(2) });
        app.AspNetApp(Shop, new WebEndpointOptions { Label = "it-app" });
        app.AspNetApp(Echo, new WebEndpointOptions { Label = "it-ws" });
        app.WebServer(StartPythonAsync, 8080, new WebEndpointOptions { Label = "it-py" }, startupTimeout: TimeSpan.FromSeconds(20));
        app.WebEndpoint(Slow, new WebEndpointOptions { Label = "it-slow", RequestTimeout = TimeSpan.FromSeconds(1) });
        app.WebServer(NeverListens, 8081, new WebEndpointOptions { Label = "it-broken" }, startupTimeout: TimeSpan.FromMilliseconds(200));
        app.WebEndpoint(Hello, new WebEndpointOptions { Label = "bench-hello" }, new FunctionOptions { MaxInputs = 256 });
        app.WebEndpoint<WebModel>(m => m.Predict, new WebEndpointOptions { Label = "it-model" }, new FunctionOptions { MaxInputs = 4 });
        app.WebEndpointsOf<WebModel>();
        app.WebEndpoint(Crowd, new WebEndpointOptions { Label = "it-crowd" }, new FunctionOptions { MaxInputs = 8, MaxContainers = 40, ScaledownWindow = TimeSpan.FromSeconds(2) });
    }

    /// <summary>Holds its slot at the test's gate, then answers its container's process id: the load test's endpoint.</summary>
    public static async Task<int> Crowd(string gate, CancellationToken cancellationToken)
    {
        await GeneratorFunctions.WaitAtGateAsync(gate, cancellationToken);
        return Environment.ProcessId;
    }

    /// <summary>The benchmark's trivial GET: one small constant JSON body, so the figures measure the path, not the handler.</summary>
    public static object Hello() => new { hello = "world" };

    /// <summary>GET: query values bind to the parameters; the result is JSON.</summary>
    public static object Add(int a, int b, string? name) => new { sum = a + b, name };

    /// <summary>POST: the JSON body binds to a record.</summary>
    public static Receipt Buy(Order order) => new(order.Item, order.Quantity * order.Price);

    public static string Secret() => "secret";

    public static string Fail(string why) => throw new InvalidOperationException("handler failed on purpose: " + why);

    /// <summary>
    /// Server-sent events: writes <c>first</c>, then waits at the test's gate (<c>host:port</c>) until the test
    /// closes it, then writes <c>second</c>. The first event can reach the client only while the handler runs.
    /// </summary>
    public static async Task Events(HttpContext http, string gate, CancellationToken cancellationToken)
    {
        http.Response.ContentType = "text/event-stream";
        await http.Response.WriteAsync("data: first\n\n", cancellationToken);
        await http.Response.Body.FlushAsync(cancellationToken);
        await GeneratorFunctions.WaitAtGateAsync(gate, cancellationToken);
        await http.Response.WriteAsync("data: second\n\n", cancellationToken);
    }

    /// <summary>Holds its slot at the test's gate, then answers its container's process id.</summary>
    public static async Task<int> Held(string gate, CancellationToken cancellationToken)
    {
        await GeneratorFunctions.WaitAtGateAsync(gate, cancellationToken);
        return Environment.ProcessId;
    }

    /// <summary>Writes nothing until the test's gate closes: longer than its request timeout.</summary>
    public static async Task<string> Slow(string gate, CancellationToken cancellationToken)
    {
        await GeneratorFunctions.WaitAtGateAsync(gate, cancellationToken);
        return "late";
    }

    /// <summary>Starts nothing, so its port never accepts connections and every container fails its startup timeout.</summary>
    public static Task NeverListens(int port, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The seed's ASP.NET Core app: /health and two more routes.</summary>
    public static void Shop(WebApplication web)
    {
        web.MapGet("/health", () => new { status = "ok" });
        web.MapGet("/items/{id:int}", (int id) => new { id, name = $"item {id}" });
        web.MapPost("/echo", async (HttpRequest request) =>
        {
            using var reader = new StreamReader(request.Body);
            return Results.Text(await reader.ReadToEndAsync(), "text/plain");
        });
    }

    /// <summary>A WebSocket echo at /ws.</summary>
    public static void Echo(WebApplication web)
    {
        web.UseWebSockets();
        web.Map("/ws", async (HttpContext http) =>
        {
            if (!http.WebSockets.IsWebSocketRequest)
            {
                return Results.BadRequest("expected a WebSocket request");
            }
            using var socket = await http.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[4096];
            while (true)
            {
                var received = await socket.ReceiveAsync(buffer, http.RequestAborted);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", http.RequestAborted);
                    return Results.Empty;
                }
                await socket.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, http.RequestAborted);
            }
        });
    }

    /// <summary>Any web server: Python's http.server, serving the container's working directory.</summary>
    public static Task StartPythonAsync(int port, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo("python3") { UseShellExecute = false };
        foreach (var arg in new[] { "-m", "http.server", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "0.0.0.0" })
        {
            info.ArgumentList.Add(arg);
        }
        Process.Start(info);
        return Task.CompletedTask;
    }
}

/// <summary>
/// A model served over HTTP: its [Enter] hook loads state once per container, and its web endpoints (one registered
/// with a selector, two by attribute) read it on every request.
/// </summary>
public sealed class WebModel
{
    private static int _enters;
    private string _weights = "";
    private int _served;

    [Enter]
    public void Load()
    {
        _weights = "weights-" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Interlocked.Increment(ref _enters);
    }

    /// <summary>GET: answers from the loaded state, with how many requests this instance has served and how many times the hook ran.</summary>
    public object Predict(string text) => new { prediction = $"{_weights}:{text.ToUpperInvariant()}", served = Interlocked.Increment(ref _served), enters = _enters };

    /// <summary>POST by attribute: the JSON body binds to a record; the answer uses the loaded state.</summary>
    [WebEndpoint(Method = "POST", Label = "it-model-score")]
    public object Score(Order order) => new { weights = _weights, total = order.Quantity * order.Price };

    /// <summary>A static method by attribute: a plain function endpoint.</summary>
    [WebEndpoint(Label = "it-model-version")]
    public static string Version() => "model-v1";
}
