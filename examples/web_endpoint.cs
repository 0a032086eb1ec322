// The seed's fastapi_endpoint: one handler served at a URL, scaling containers from zero with the traffic.
// Run it with: ferry run examples/web_endpoint.cs
// then: curl 'http://api.localhost:7326/?text=hello'
//       curl -X POST http://127.0.0.1:7326/api-post/ -H 'content-type: application/json' -d '{"text":"hello","times":3}'
using Ferry;
using Ferry.Web;

var app = new App("web-endpoint");

// GET: query-string values bind to the parameters, as in an ASP.NET Core minimal API; the result is JSON.
app.WebEndpoint(Api, new WebEndpointOptions { Label = "api" });

// POST: the JSON body binds to a record.
app.WebEndpoint(Repeat, new WebEndpointOptions { Method = "POST", Label = "api-post" });

return await app.RunAsync(args);

static object Api(string text) => new { result = text.ToUpperInvariant() };

static object Repeat(RepeatRequest request) => new { result = string.Join(' ', Enumerable.Repeat(request.Text, request.Times)) };

record RepeatRequest(string Text, int Times);
