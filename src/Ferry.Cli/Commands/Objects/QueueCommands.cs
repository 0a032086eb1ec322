using System.CommandLine;
using Ferry.Protocol;

namespace Ferry.Cli.Commands.Objects;

/// <summary><c>ferry queue list [--json]</c>.</summary>
internal sealed class QueueListCommand : ObjectCommand
{
    private readonly Option<bool> _json = JsonOption();

    public QueueListCommand(Option<string?> server) : base("list", "List queues.", server) => Add(_json);

    protected override async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        using var client = await ConnectAsync(result, cancellationToken).ConfigureAwait(false);
        var list = await client.SendAsync<object, ObjectList>(HttpMethod.Get, Routes.Queues, null, null, Json.ObjectList, cancellationToken).ConfigureAwait(false);
        if (result.GetValue(_json))
        {
            WriteJson(list, Json.ObjectList);
            return 0;
        }
        var rows = new List<string[]>();
        foreach (var queue in list.Objects)
        {
            var total = await client.SendAsync<object, CountResponse>(HttpMethod.Get, Routes.QueueLen(queue.Name, total: true), null, null, Json.CountResponse, cancellationToken).ConfigureAwait(false);
            rows.Add([queue.Name, total.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), Time(queue.CreatedAt)]);
        }
        Table(["Name", "Items", "Created"], rows);
        return 0;
    }
}

/// <summary><c>ferry queue peek NAME [N] [--partition P]</c>: the first items, left in the queue.</summary>
internal sealed class QueuePeekCommand : ObjectCommand
{
    private readonly Argument<string> _name = new("name") { Description = "The queue." };
    private readonly Argument<int> _count = new("n") { Description = "How many items to show.", DefaultValueFactory = _ => 1 };
    private readonly Option<string?> _partition = new("--partition") { Description = "The partition; default the default one." };

    public QueuePeekCommand(Option<string?> server) : base("peek", "Print the first items of a queue as JSON, one a line, without taking them.", server)
    {
        Add(_name);
        Add(_count);
        Add(_partition);
    }

    protected override async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var name = result.GetValue(_name)!;
        using var client = await ConnectAsync(result, cancellationToken).ConfigureAwait(false);
        var page = await client.SendAsync<object, QueueItems>(HttpMethod.Get, Routes.QueueItems(name, 0, Math.Clamp(result.GetValue(_count), 1, 10_000), result.GetValue(_partition)),
            null, null, Json.QueueItems, cancellationToken).ConfigureAwait(false);
        foreach (var item in page.Items)
        {
            Console.WriteLine(item.Value.GetRawText());
        }
        return 0;
    }
}

/// <summary><c>ferry queue len NAME [--partition P] [--total]</c>.</summary>
internal sealed class QueueLenCommand : ObjectCommand
{
    private readonly Argument<string> _name = new("name") { Description = "The queue." };
    private readonly Option<string?> _partition = new("--partition") { Description = "The partition; default the default one." };
    private readonly Option<bool> _total = new("--total") { Description = "Count every partition." };

    public QueueLenCommand(Option<string?> server) : base("len", "Print how many items a queue's partition holds.", server)
    {
        Add(_name);
        Add(_partition);
        Add(_total);
    }

    protected override async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        using var client = await ConnectAsync(result, cancellationToken).ConfigureAwait(false);
        var count = await client.SendAsync<object, CountResponse>(HttpMethod.Get, Routes.QueueLen(result.GetValue(_name)!, result.GetValue(_partition), result.GetValue(_total)),
            null, null, Json.CountResponse, cancellationToken).ConfigureAwait(false);
        Console.WriteLine(count.Count);
        return 0;
    }
}

/// <summary><c>ferry queue clear NAME [--partition P] [--all]</c>.</summary>
internal sealed class QueueClearCommand : ObjectCommand
{
    private readonly Argument<string> _name = new("name") { Description = "The queue." };
    private readonly Option<string?> _partition = new("--partition") { Description = "The partition; default the default one." };
    private readonly Option<bool> _all = new("--all") { Description = "Clear every partition." };

    public QueueClearCommand(Option<string?> server) : base("clear", "Remove the items of a queue's partition, or of all partitions.", server)
    {
        Add(_name);
        Add(_partition);
        Add(_all);
    }

    protected override async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var name = result.GetValue(_name)!;
        using var client = await ConnectAsync(result, cancellationToken).ConfigureAwait(false);
        await client.SendAsync<QueueClearRequest, object>(HttpMethod.Post, Routes.QueueClear(name), new QueueClearRequest(result.GetValue(_partition), result.GetValue(_all)),
            Json.QueueClearRequest, null, cancellationToken).ConfigureAwait(false);
        Output.Info($"Cleared queue '{name}'.");
        return 0;
    }
}

/// <summary><c>ferry queue delete NAME</c>.</summary>
internal sealed class QueueDeleteCommand : ObjectCommand
{
    private readonly Argument<string> _name = new("name") { Description = "The queue." };

    public QueueDeleteCommand(Option<string?> server) : base("delete", "Delete a queue and its items.", server) => Add(_name);

    protected override async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var name = result.GetValue(_name)!;
        using var client = await ConnectAsync(result, cancellationToken).ConfigureAwait(false);
        await client.SendAsync<object, object>(HttpMethod.Delete, Routes.Queue(name), null, null, null, cancellationToken).ConfigureAwait(false);
        Output.Info($"Deleted queue '{name}'.");
        return 0;
    }
}
