using System.CommandLine;
using System.Text.Json;
using Ferry.Protocol;

namespace Ferry.Cli.Commands.Objects;

/// <summary><c>ferry dict list [--json]</c>.</summary>
internal sealed class DictListCommand : ObjectCommand
{
    private readonly Option<bool> _json = JsonOption();

    public DictListCommand(Option<string?> server) : base("list", "List dicts.", server) => Add(_json);

    protected override async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        using var client = await ConnectAsync(result, cancellationToken).ConfigureAwait(false);
        var list = await client.SendAsync<object, ObjectList>(HttpMethod.Get, Routes.Dicts, null, null, Json.ObjectList, cancellationToken).ConfigureAwait(false);
        if (result.GetValue(_json))
        {
            WriteJson(list, Json.ObjectList);
        }
        else
        {
            Table(["Name", "Created"], list.Objects.Select(o => new[] { o.Name, Time(o.CreatedAt) }));
        }
        return 0;
    }
}

/// <summary><c>ferry dict get NAME KEY</c>: the value as JSON on stdout.</summary>
internal sealed class DictGetCommand : ObjectCommand
{
    private readonly Argument<string> _name = new("name") { Description = "The dict." };
    private readonly Argument<string> _key = new("key") { Description = "The key: JSON (42, \"a\", [1,2]) or else plain text, read as a string." };

    public DictGetCommand(Option<string?> server) : base("get", "Print the value of one key as JSON.", server)
    {
        Add(_name);
        Add(_key);
    }

    protected override async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var name = result.GetValue(_name)!;
        var key = ParseKey(result.GetValue(_key)!);
        using var client = await ConnectAsync(result, cancellationToken).ConfigureAwait(false);
        var found = await client.SendAsync(HttpMethod.Post, Routes.DictGet(name), new DictKeyRequest(key), Json.DictKeyRequest, Json.DictValueResponse, cancellationToken).ConfigureAwait(false);
        if (found is not { Found: true, Value: { } value })
        {
            throw new CliException($"Dict '{name}' has no key {key.GetRawText()}.");
        }
        Console.WriteLine(value.GetRawText());
        return 0;
    }
}

/// <summary><c>ferry dict items NAME [--json]</c>.</summary>
internal sealed class DictItemsCommand : ObjectCommand
{
    private readonly Argument<string> _name = new("name") { Description = "The dict." };
    private readonly Option<bool> _json = JsonOption();
    private readonly Option<int> _limit = new("-n", "--limit") { Description = "Show at most this many entries.", DefaultValueFactory = _ => 20 };

    public DictItemsCommand(Option<string?> server) : base("items", "Print entries, ordered by key.", server)
    {
        Add(_name);
        Add(_json);
        Add(_limit);
    }

    protected override async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var name = result.GetValue(_name)!;
        var limit = Math.Clamp(result.GetValue(_limit), 1, 10_000);
        using var client = await ConnectAsync(result, cancellationToken).ConfigureAwait(false);
        var page = await client.SendAsync<object, DictItems>(HttpMethod.Get, Routes.DictItems(name, null, limit), null, null, Json.DictItems, cancellationToken).ConfigureAwait(false);
        if (result.GetValue(_json))
        {
            WriteJson(page, Json.DictItems);
        }
        else
        {
            Table(["Key", "Value"], page.Items.Select(e => new[] { e.Key.GetRawText(), Shorten(e.Value) }));
            if (page.Next is not null)
            {
                Output.Info($"Showing the first {limit} entries; -n shows more.");
            }
        }
        return 0;
    }

    private static string Shorten(JsonElement value)
    {
        var text = value.GetRawText();
        return text.Length <= 200 ? text : text[..197] + "...";
    }
}

/// <summary><c>ferry dict clear NAME</c>.</summary>
internal sealed class DictClearCommand : ObjectCommand
{
    private readonly Argument<string> _name = new("name") { Description = "The dict." };

    public DictClearCommand(Option<string?> server) : base("clear", "Remove every entry of a dict.", server) => Add(_name);

    protected override async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var name = result.GetValue(_name)!;
        using var client = await ConnectAsync(result, cancellationToken).ConfigureAwait(false);
        await client.SendAsync<object, object>(HttpMethod.Post, Routes.DictClear(name), null, null, null, cancellationToken).ConfigureAwait(false);
        Output.Info($"Cleared dict '{name}'.");
        return 0;
    }
}

/// <summary><c>ferry dict delete NAME</c>.</summary>
internal sealed class DictDeleteCommand : ObjectCommand
{
    private readonly Argument<string> _name = new("name") { Description = "The dict." };

    public DictDeleteCommand(Option<string?> server) : base("delete", "Delete a dict and its entries.", server) => Add(_name);

    protected override async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var name = result.GetValue(_name)!;
        using var client = await ConnectAsync(result, cancellationToken).ConfigureAwait(false);
        await client.SendAsync<object, object>(HttpMethod.Delete, Routes.Dict(name), null, null, null, cancellationToken).ConfigureAwait(false);
        Output.Info($"Deleted dict '{name}'.");
        return 0;
    }
}
