using System.CommandLine;
using Ferry.Protocol;

namespace Ferry.Cli.Commands.Objects;

/// <summary><c>ferry secret create NAME K=V... [--from-dotenv FILE] [--force]</c>.</summary>
internal sealed class SecretCreateCommand : ObjectCommand
{
    private readonly Argument<string> _name = new("name") { Description = "The secret's name: letters, digits, '-', '_' or '.'." };
    private readonly Argument<string[]> _pairs = new("pairs") { Description = "KEY=VALUE pairs.", Arity = ArgumentArity.ZeroOrMore };
    private readonly Option<string?> _dotenv = new("--from-dotenv") { Description = "Read KEY=VALUE lines from a dotenv file; pairs on the command line win." };
    private readonly Option<bool> _force = new("--force") { Description = "Replace a secret of the same name." };

    public SecretCreateCommand(Option<string?> server) : base("create", "Create a secret (its values are encrypted on the server and never shown again).", server)
    {
        Add(_name);
        Add(_pairs);
        Add(_dotenv);
        Add(_force);
    }

    protected override async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var name = result.GetValue(_name)!;
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        if (result.GetValue(_dotenv) is { } file)
        {
            if (!File.Exists(file))
            {
                throw new CliException($"The dotenv file {file} does not exist.");
            }
            foreach (var (key, value) in Dotenv.Parse(await File.ReadAllTextAsync(file, cancellationToken).ConfigureAwait(false), file))
            {
                values[key] = value;
            }
        }
        foreach (var pair in result.GetValue(_pairs) ?? [])
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new CliException($"'{(equals < 0 ? pair : "=...")}' is not KEY=VALUE.");
            }
            values[pair[..equals]] = pair[(equals + 1)..];
        }
        if (values.Count == 0)
        {
            throw new CliException("Give at least one KEY=VALUE, or --from-dotenv FILE.");
        }
        // A secret is made before the first `ferry run` that needs it: start the local server if none runs.
        using var client = await ConnectAsync(result, cancellationToken, startLocal: true).ConfigureAwait(false);
        await client.SendAsync(HttpMethod.Post, Routes.Secrets, new CreateSecretRequest(name, values, result.GetValue(_force)),
            Json.CreateSecretRequest, Json.CreateSecretResponse, cancellationToken).ConfigureAwait(false);
        Output.Info($"Created secret '{name}' with keys {string.Join(", ", values.Keys.Order(StringComparer.Ordinal))}.");
        return 0;
    }
}

/// <summary><c>ferry secret list [--json]</c>: names and keys, never values.</summary>
internal sealed class SecretListCommand : ObjectCommand
{
    private readonly Option<bool> _json = JsonOption();

    public SecretListCommand(Option<string?> server) : base("list", "List secrets: names and keys, never values.", server) => Add(_json);

    protected override async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        using var client = await ConnectAsync(result, cancellationToken).ConfigureAwait(false);
        var list = await client.SendAsync<object, SecretList>(HttpMethod.Get, Routes.Secrets, null, null, Json.SecretList, cancellationToken).ConfigureAwait(false);
        if (result.GetValue(_json))
        {
            WriteJson(list, Json.SecretList);
        }
        else
        {
            Table(["Name", "Keys", "Created", "Updated"], list.Secrets.Select(s => new[] { s.Name, string.Join(", ", s.Keys), Time(s.CreatedAt), Time(s.UpdatedAt) }));
        }
        return 0;
    }
}

/// <summary><c>ferry secret delete NAME</c>.</summary>
internal sealed class SecretDeleteCommand : ObjectCommand
{
    private readonly Argument<string> _name = new("name") { Description = "The secret to delete." };

    public SecretDeleteCommand(Option<string?> server) : base("delete", "Delete a secret; containers started later no longer get it.", server) => Add(_name);

    protected override async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var name = result.GetValue(_name)!;
        using var client = await ConnectAsync(result, cancellationToken).ConfigureAwait(false);
        await client.SendAsync<object, object>(HttpMethod.Delete, Routes.Secret(name), null, null, null, cancellationToken).ConfigureAwait(false);
        Output.Info($"Deleted secret '{name}'.");
        return 0;
    }
}
