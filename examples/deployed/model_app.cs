// A deployed app with a class and a plain function, called by name from another program (lookup_client.cs).
//
//   ferry deploy examples/deployed/model_app.cs --tag v1
//   dotnet run examples/deployed/lookup_client.cs
using Ferry;

var app = new App("sentiment");
app.Cls<Model>(new FunctionOptions { MinContainers = 1 });
app.Function(Version);
return await app.RunAsync(args);

static string Version() => "model v1";

public class Model
{
    private string[] _positive = [];

    [Enter]
    public void Load() => _positive = ["good", "great", "fine", "love"];

    [Method]
    public string Predict(string text) =>
        text.Split(' ').Count(w => _positive.Contains(w.ToLowerInvariant())) > 0 ? "positive" : "negative";
}
