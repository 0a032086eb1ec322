using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Ferry.Client;
using Ferry.Protocol;
using Spectre.Console;

namespace Ferry.Cli.Commands.Objects;

/// <summary>What the secret, dict and queue commands share: the server option, errors as one line, and output.</summary>
internal abstract class ObjectCommand : Command
{
    protected static readonly ProtocolJsonContext Json = ProtocolJsonContext.Default;

    protected ObjectCommand(string name, string description, Option<string?> server) : base(name, description)
    {
        Server = server;
        SetAction((result, cancellationToken) => CommandErrors.GuardAsync(() => RunAsync(result, cancellationToken)));
    }

    protected Option<string?> Server { get; }

    protected abstract Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken);

    /// <summary>The server to talk to; with <paramref name="startLocal"/>, the local one is started if none runs.</summary>
    protected Task<FerryClient> ConnectAsync(ParseResult result, CancellationToken cancellationToken, bool startLocal = false) =>
        ControlPlane.ConnectAsync(result.GetValue(Server), startLocal, cancellationToken);

    protected static Option<bool> JsonOption() => new("--json") { Description = "Print JSON to stdout instead of a table." };

    protected static void WriteJson<T>(T value, JsonTypeInfo<T> type) => Console.WriteLine(JsonSerializer.Serialize(value, type));

    protected static string Time(DateTimeOffset time) => Output.Time(time);

    /// <summary>A key as typed: JSON if it parses as JSON (<c>42</c>, <c>"a b"</c>, <c>[1,2]</c>), else the text as a string.</summary>
    protected static JsonElement ParseKey(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return JsonSerializer.SerializeToElement(text, Json.String);
        }
    }

    protected static void Table(string[] columns, IEnumerable<string[]> rows) => Output.Table(columns, rows);
}
