// Web endpoints on a class: the model loads once per container in its [Enter] hook, and every request reuses it.
// Run it with: ferry run examples/web_model.cs
// then: curl 'http://sentiment.localhost:7326/?text=what+a+lovely+day'
//       curl -X POST http://127.0.0.1:7326/sentiment-batch/ -H 'content-type: application/json' -d '{"texts":["great","awful"]}'
//       curl http://sentiment-info.localhost:7326/
using Ferry;
using Ferry.Web;

var app = new App("web-model");

// One method, named with a selector; up to 8 requests share a container's instance at once.
app.WebEndpoint<Sentiment>(m => m.Classify, new WebEndpointOptions { Label = "sentiment" }, new FunctionOptions { MaxInputs = 8 });

// Every method marked [WebEndpoint], each with the settings its attribute gives.
app.WebEndpointsOf<Sentiment>(new FunctionOptions { MaxInputs = 8 });

return await app.RunAsync(args);

record Batch(List<string> Texts);

class Sentiment
{
    private Dictionary<string, int> _lexicon = [];
    private DateTimeOffset _loadedAt;

    // Runs once per container, before it takes requests: the place for loading weights.
    [Enter]
    public void Load()
    {
        _lexicon = new(StringComparer.OrdinalIgnoreCase) { ["lovely"] = 2, ["great"] = 2, ["good"] = 1, ["bad"] = -1, ["awful"] = -2 };
        _loadedAt = DateTimeOffset.UtcNow;
    }

    public object Classify(string text)
    {
        var score = text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Sum(w => _lexicon.GetValueOrDefault(w));
        return new { text, score, label = score > 0 ? "positive" : score < 0 ? "negative" : "neutral" };
    }

    [WebEndpoint(Method = "POST", Label = "sentiment-batch")]
    public object ClassifyMany(Batch batch) => batch.Texts.Select(Classify).ToList();

    [WebEndpoint(Label = "sentiment-info")]
    public object Info() => new { words = _lexicon.Count, loadedAt = _loadedAt };
}
