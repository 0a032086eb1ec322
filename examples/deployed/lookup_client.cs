#:project ../../src/Ferry/Ferry.csproj
// An ordinary program that calls the deployed `sentiment` app by name (the seed's `Model().predict.remote(data)` after
// `modal deploy`). It has none of the app's code: only the class's shape, as a shared library would give it.
//
//   ./ferry deploy examples/deployed/model_app.cs
//   dotnet run examples/deployed/lookup_client.cs
using System.Text.Json;
using Ferry;

using var connection = FerryConnection.FromEnvironment();
var model = await Cls.FromNameAsync<Model>("sentiment", connection: connection);
var predict = model.Method<string, string>(m => m.Predict);
foreach (var text in new[] { "a good day", "a long queue" })
{
    Console.WriteLine($"{text}: {await predict.RemoteAsync(text)}");
}

var version = await Function.FromNameAsync<Function<string>>("sentiment", "Version", connection);
Console.WriteLine($"served by {await version.RemoteAsync()}");

// Untyped, for callers that do not share the types: JSON in, JSON out.
var untyped = await Function.FromNameAsync("sentiment", "Model.Predict", connection);
Console.WriteLine($"{untyped.Signature}: {await untyped.RemoteAsync([JsonSerializer.SerializeToElement("love it")])}");

/// <summary>The deployed class's shape; its body runs in the app.</summary>
public class Model
{
    [Method]
    public string Predict(string text) => throw new NotSupportedException("Model runs in the deployed app.");
}
