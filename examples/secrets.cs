// Secrets as environment variables: a named one, made with `ferry secret create`, and one from local values.
// Run it with:
//   ferry secret create my-api-key API_KEY=sk-example-123
//   ferry run examples/secrets.cs
using Ferry;

var app = new App("secrets-example");
var callApi = app.Function(CallApi, new FunctionOptions
{
    Secrets =
    [
        Secret.FromName("my-api-key", requiredKeys: ["API_KEY"]),
        Secret.FromDictionary(new Dictionary<string, string?> { ["REGION"] = "eu-west" }),
    ],
});

app.LocalEntrypoint(async () => Console.WriteLine(await callApi.RemoteAsync()));

return await app.RunAsync(args);

static string CallApi()
{
    var key = Environment.GetEnvironmentVariable("API_KEY") ?? "";
    // Never print a secret: show that it arrived, not what it is.
    return $"API_KEY has {key.Length} characters; REGION is {Environment.GetEnvironmentVariable("REGION")}.";
}
