// The seed's asgi_app: a whole ASP.NET Core app (routes, middleware, DI) in the container, behind the gateway.
// Run it with: ferry run examples/web_app.cs
// then: curl http://web-app.localhost:7326/health      (or http://127.0.0.1:7326/web-app/health)
//       curl -N http://web-app.localhost:7326/ticks     (server-sent events, one per second)
using Ferry;
using Ferry.Web;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

var app = new App("web-app");

app.AspNetApp(FastApiApp, new WebEndpointOptions { Label = "web-app" }, new FunctionOptions { MaxInputs = 50 });

return await app.RunAsync(args);

static void FastApiApp(WebApplication web)
{
    web.MapGet("/health", () => new { status = "ok" });
    web.MapGet("/items/{id:int}", (int id) => new { id, name = $"item {id}" });
    web.MapGet("/ticks", async (HttpContext http, CancellationToken cancellationToken) =>
    {
        http.Response.ContentType = "text/event-stream";
        for (var i = 0; i < 5; i++)
        {
            await http.Response.WriteAsync($"data: tick {i}\n\n", cancellationToken);
            await http.Response.Body.FlushAsync(cancellationToken);
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        }
    });
}
