// Generators: a function that returns IAsyncEnumerable<T> streams its items to the caller while it runs.
// Run it with: ferry run examples/generators.cs
using System.Runtime.CompilerServices;
using Ferry;

var app = new App("generators");

var countdown = app.Function(Countdown);
var squares = app.Function(Squares);
var failing = app.Function(FailAfter, name: "fail_after");
var tokenizer = app.Cls<Tokenizer>();

app.LocalEntrypoint(async () =>
{
    // Each line prints as the container yields it, not when the function returns.
    await foreach (var line in countdown.RemoteStreamAsync(5))
    {
        Console.WriteLine($"{DateTime.Now:HH:mm:ss.fff}  {line}");
    }

    // Breaking out early cancels the call: the generator's token is cancelled in its container.
    var total = 0L;
    await foreach (var square in squares.RemoteStreamAsync(1, 1_000_000))
    {
        total += square;
        if (square > 10_000)
        {
            break;
        }
    }
    Console.WriteLine($"sum of squares up to the first over 10,000: {total}");

    // An exception arrives after the items yielded before it.
    try
    {
        await foreach (var item in failing.RemoteStreamAsync(3))
        {
            Console.WriteLine($"item {item}");
        }
    }
    catch (RemoteException e)
    {
        Console.WriteLine($"then: {e.RemoteType}: {e.RemoteMessage}");
    }

    // A class method can be a generator too.
    var words = tokenizer.Method(t => t.Split);
    await foreach (var word in words.RemoteStreamAsync("items stream while the method runs"))
    {
        Console.WriteLine($"word: {word}");
    }
});

return await app.RunAsync(args);

static async IAsyncEnumerable<string> Countdown(int from, [EnumeratorCancellation] CancellationToken cancellationToken = default)
{
    for (var i = from; i > 0; i--)
    {
        yield return $"{i}...";
        await Task.Delay(500, cancellationToken);
    }
    yield return "lift-off";
}

static async IAsyncEnumerable<long> Squares(int start, int end, [EnumeratorCancellation] CancellationToken cancellationToken = default)
{
    for (long i = start; i < end; i++)
    {
        cancellationToken.ThrowIfCancellationRequested();
        yield return i * i;
    }
    await Task.CompletedTask;
}

static async IAsyncEnumerable<int> FailAfter(int count)
{
    for (var i = 0; i < count; i++)
    {
        yield return i;
    }
    await Task.CompletedTask;
    throw new InvalidOperationException($"gave up after {count} items");
}

public sealed class Tokenizer
{
    private char[] _separators = [];

    [Enter]
    public void Load() => _separators = [' ', '\t', '\n'];

    [Method]
    public async IAsyncEnumerable<string> Split(string text, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var word in text.Split(_separators, StringSplitOptions.RemoveEmptyEntries))
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return word;
        }
        await Task.CompletedTask;
    }
}
