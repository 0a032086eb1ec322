using System.Globalization;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Ferry;

namespace Ferry.TestApp;

/// <summary>The generators the integration tests stream from.</summary>
public static class GeneratorFunctions
{
    private static readonly HttpClient CounterClient = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Yields 0 to <paramref name="count"/> - 1.</summary>
    public static async IAsyncEnumerable<int> Ticks(int count, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        for (var i = 0; i < count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return i;
        }
        await Task.CompletedTask;
    }

    /// <summary>
    /// Yields 0, then opens a connection to <paramref name="gate"/> (<c>host:port</c>) and waits until the other end
    /// closes it, then yields 1 to <paramref name="count"/> - 1. Its first item can reach the caller only while it runs.
    /// </summary>
    public static async IAsyncEnumerable<int> GatedTicks(int count, string gate, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        yield return 0;
        await WaitAtGateAsync(gate, cancellationToken);
        for (var i = 1; i < count; i++)
        {
            yield return i;
        }
    }

    /// <summary>
    /// Yields 0, 1 and 2, prints <c>waiting TAG</c> and waits for its token; once it is cancelled, prints
    /// <c>cancelled TAG</c>.
    /// </summary>
    public static async IAsyncEnumerable<int> TicksThenWait(string tag, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        for (var i = 0; i < 3; i++)
        {
            yield return i;
        }
        Console.WriteLine($"waiting {tag}");
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Console.WriteLine($"cancelled {tag}");
            throw;
        }
    }

    /// <summary>
    /// Reports its execution to a counter (index 0), yields 0 to <paramref name="count"/> - 1, then throws with
    /// <paramref name="message"/> and an inner cause.
    /// </summary>
    public static async IAsyncEnumerable<int> FailAfter(string counter, int count, string message)
    {
        using (var response = await CounterClient.PostAsync(counter + "0", null))
        {
            response.EnsureSuccessStatusCode();
        }
        for (var i = 0; i < count; i++)
        {
            yield return i;
        }
        throw new InvalidOperationException(message, new ArgumentException("the inner cause"));
    }

    /// <summary>
    /// Reports each item to a counter (a POST to <paramref name="counter"/> followed by the item) before it yields it,
    /// for <paramref name="count"/> items; the counter's total is how far the generator has got.
    /// </summary>
    public static async IAsyncEnumerable<int> CountedTicks(string counter, int count, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        for (var i = 0; i < count; i++)
        {
            using (var response = await CounterClient.PostAsync(counter + i.ToString(CultureInfo.InvariantCulture), null, cancellationToken))
            {
                response.EnsureSuccessStatusCode();
            }
            yield return i;
        }
    }

    /// <summary>
    /// Connects to <paramref name="gate"/> (<c>host:port</c>, a listener in the test) and waits until the test closes
    /// the connection: the test knows the function got this far when it accepts, and lets it go on when it closes.
    /// </summary>
    public static async Task WaitAtGateAsync(string gate, CancellationToken cancellationToken)
    {
        var (host, port) = Endpoint(gate);
        using var client = new TcpClient();
        await client.ConnectAsync(host, port, cancellationToken);
        var buffer = new byte[16];
        while (await client.GetStream().ReadAsync(buffer, cancellationToken) > 0)
        {
        }
    }

    private static (string Host, int Port) Endpoint(string hostPort)
    {
        var colon = hostPort.LastIndexOf(':');
        return (hostPort[..colon], int.Parse(hostPort[(colon + 1)..], CultureInfo.InvariantCulture));
    }
}

/// <summary>A class with a generator method.</summary>
public sealed class Streamer
{
    private string _prefix = "";

    [Enter]
    public void Load() => _prefix = "word-";

    /// <summary>Yields <c>word-0</c> to <c>word-(count - 1)</c>, from the instance its enter hook prepared.</summary>
    [Method]
    public async IAsyncEnumerable<string> Words(int count, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        for (var i = 0; i < count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return _prefix + i.ToString(CultureInfo.InvariantCulture);
        }
        await Task.CompletedTask;
    }
}
