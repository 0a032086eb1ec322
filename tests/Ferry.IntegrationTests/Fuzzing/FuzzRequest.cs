using System.Text;

namespace Ferry.IntegrationTests.Fuzzing;

/// <summary>
/// One request the fuzzer sends. <see cref="Authorization"/> is the header as sent, or null for none;
/// <see cref="Credential"/> names it in messages, which never show a secret.
/// </summary>
internal sealed record FuzzRequest(
    int Number,
    FuzzRoute Route,
    string Method,
    string PathAndQuery,
    byte[]? Body,
    bool Chunked,
    string? ContentType,
    string Credential,
    string? Authorization)
{
    private const int Shown = 240;

    /// <summary>The request as a failure message shows it: method, path, credential, content type and the head of the body.</summary>
    public string Describe()
    {
        var path = PathAndQuery.Length <= Shown ? PathAndQuery : $"{PathAndQuery[..Shown]}... ({PathAndQuery.Length} characters)";
        var text = new StringBuilder($"#{Number} {Method} {path} (route {Route.Key}, credential {Credential}");
        if (Body is not null)
        {
            text.Append($", {(ContentType ?? "no content type")}, {Body.Length} bytes{(Chunked ? " chunked" : "")}");
        }
        text.Append(')');
        if (Body is { Length: > 0 })
        {
            var head = Encoding.UTF8.GetString(Body, 0, Math.Min(Body.Length, Shown));
            text.Append(" body: ").Append(head.ReplaceLineEndings(" "));
            if (Body.Length > Shown)
            {
                text.Append("...");
            }
        }
        return text.ToString();
    }
}
