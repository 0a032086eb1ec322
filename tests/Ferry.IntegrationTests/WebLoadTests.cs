using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using FluentAssertions;

namespace Ferry.IntegrationTests;

/// <summary>
/// The gateway under load and under hostile input, on loopback: a crowd of concurrent requests that scales an endpoint
/// from zero, and ten thousand malformed requests beside a well-behaved client. Endpoints are in
/// tests/Ferry.TestApp/WebFunctions.cs.
/// </summary>
public sealed class WebLoadTests(CrowdWorkerFixture fixture) : IClassFixture<CrowdWorkerFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(4);
    private readonly HttpClient _http = new() { Timeout = Limit };

    private Uri Gateway => fixture.Server.GatewayUrl!;

    [Fact]
    public async Task Two_hundred_concurrent_requests_from_zero_scale_to_one_container_per_eight_and_all_succeed()
    {
        var appId = await fixture.NewAppAsync().WaitAsync(Limit);
        const int requests = 200, maxInputs = 8, expected = requests / maxInputs;
        using var gate = new TcpListener(ExecutionCounter.PrimaryAddress(), 0);
        gate.Start(requests);
        var endpoint = (IPEndPoint)gate.LocalEndpoint;
        using var timeout = new CancellationTokenSource(Limit);
        fixture.Scheduler.PoolsOfApp(appId).Single(p => p.PoolId == "Crowd").Containers.Should().BeEmpty();

        var calls = Enumerable.Range(0, requests)
            .Select(_ => _http.GetAsync(new Uri(Gateway, $"/it-crowd/?gate={endpoint.Address}:{endpoint.Port}"), timeout.Token))
            .ToList();
        // Every request holds its slot at the gate until all 200 are in containers at once.
        var held = new List<TcpClient>();
        while (held.Count < requests)
        {
            held.Add(await gate.AcceptTcpClientAsync(timeout.Token));
        }
        var live = 0;
        await fixture.Scheduler.WaitUntilAsync(() =>
        {
            var pool = fixture.Scheduler.PoolsOfApp(appId).Single(p => p.PoolId == "Crowd");
            live = pool.LiveContainers;
            return pool.WebInFlight == requests;
        }, timeout.Token);
        foreach (var client in held)
        {
            client.Dispose();
        }
        var responses = await Task.WhenAll(calls).WaitAsync(timeout.Token);
        var bodies = await Task.WhenAll(responses.Select(r => r.Content.ReadAsStringAsync(timeout.Token)));

        responses.Select(r => r.StatusCode).Should().AllBeEquivalentTo(HttpStatusCode.OK, string.Join("\n", bodies.Distinct().Take(3)));
        live.Should().Be(expected, "200 requests at 8 per container need 25 containers, within the pool's maximum of 40");
        bodies.Distinct().Should().HaveCount(expected, "each container served its 8 of the requests at once");
        bodies.GroupBy(b => b).Select(g => g.Count()).Should().AllBeEquivalentTo(maxInputs);
    }

    [Fact]
    public async Task Ten_thousand_hostile_requests_get_no_5xx_and_a_concurrent_client_is_undisturbed()
    {
        await fixture.NewAppAsync().WaitAsync(Limit);
        using var timeout = new CancellationTokenSource(Limit);
        // Both endpoints warm first: the well-behaved client's, and the one the forwarded hostile requests reach.
        (await _http.GetStringAsync(new Uri(Gateway, "/it-get/?a=1&b=1"), timeout.Token)).Should().Be("""{"sum":2,"name":null}""");
        (await _http.GetStringAsync(new Uri(Gateway, "/bench-hello/"), timeout.Token)).Should().Be("""{"hello":"world"}""");

        using var hostileDone = new CancellationTokenSource();
        var good = new ConcurrentBag<string>();
        var client = Task.Run(async () =>
        {
            for (var i = 0; !hostileDone.IsCancellationRequested; i++)
            {
                using var response = await _http.GetAsync(new Uri(Gateway, $"/it-get/?a={i}&b=1"), timeout.Token);
                var body = await response.Content.ReadAsStringAsync(timeout.Token);
                good.Add(response.StatusCode == HttpStatusCode.OK && body == $$"""{"sum":{{i + 1}},"name":null}""" ? "ok" : $"{(int)response.StatusCode} {body}");
            }
        });

        var hostile = Hostile();
        var statuses = new ConcurrentDictionary<string, ConcurrentBag<int>>();
        await Parallel.ForEachAsync(Enumerable.Range(0, 10_000), new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = timeout.Token }, async (i, ct) =>
        {
            var (name, request, stall) = hostile[i % hostile.Count];
            statuses.GetOrAdd(name, _ => []).Add(await SendAsync(request, stall, ct));
        });
        await hostileDone.CancelAsync();
        await client.WaitAsync(timeout.Token);

        var byName = statuses.OrderBy(p => p.Key).Select(p => $"{p.Key}: {string.Join(", ", p.Value.GroupBy(s => s).OrderBy(g => g.Key).Select(g => $"{g.Key} x{g.Count()}"))}").ToList();
        statuses.Values.Sum(v => v.Count).Should().Be(10_000);
        statuses.Values.SelectMany(v => v).Should().OnlyContain(s => s < 500, "the gateway answers hostile input with 4xx, never 5xx:\n" + string.Join("\n", byName));
        statuses.Where(p => p.Key != "slow body").SelectMany(p => p.Value).Should().NotContain(0, "every request but a deliberately unfinished one gets an answer:\n" + string.Join("\n", byName));
        good.Should().NotBeEmpty().And.OnlyContain(g => g == "ok", "the well-behaved client's requests all succeed beside the hostile ones");
    }

    /// <summary>Malformed and hostile requests, each named; a stall sends the first part, waits, and gives up on an answer after a short while.</summary>
    private static List<(string Name, byte[] Request, bool Stall)> Hostile()
    {
        static (string, byte[], bool) Of(string name, string request, bool stall = false) => (name, Encoding.Latin1.GetBytes(request), stall);
        const string host = "Host: 127.0.0.1\r\n";
        return
        [
            Of("bad header name", $"GET /it-get/?a=1&b=2 HTTP/1.1\r\n{host}Bad Header Name: x\r\n\r\n"),
            Of("header of 100 KB", $"GET /bench-hello/ HTTP/1.1\r\n{host}X-Big: {new string('a', 100_000)}\r\n\r\n"),
            Of("500 headers", $"GET /bench-hello/ HTTP/1.1\r\n{host}{string.Concat(Enumerable.Range(0, 500).Select(i => $"X-{i}: {i}\r\n"))}\r\n"),
            Of("path of 20 KB", $"GET /{new string('x', 20_000)} HTTP/1.1\r\n{host}\r\n"),
            Of("method of 10 KB", $"{new string('A', 10_000)} /bench-hello/ HTTP/1.1\r\n{host}\r\n"),
            Of("label of 70 characters", $"GET /{new string('a', 70)}/ HTTP/1.1\r\n{host}\r\n"),
            Of("host label of 5,000 characters", $"GET / HTTP/1.1\r\nHost: {new string('a', 5_000)}.localhost\r\n\r\n"),
            Of("empty host labels", "GET / HTTP/1.1\r\nHost: evil..localhost\r\n\r\n"),
            Of("no host", "GET /bench-hello/ HTTP/1.1\r\n\r\n"),
            Of("two hosts", $"GET /bench-hello/ HTTP/1.1\r\n{host}Host: other\r\n\r\n"),
            Of("body of 1 TB declared", $"POST /bench-hello/ HTTP/1.1\r\n{host}Content-Length: {1L << 40}\r\nConnection: close\r\n\r\n"),
            Of("negative length", $"POST /bench-hello/ HTTP/1.1\r\n{host}Content-Length: -1\r\n\r\n"),
            Of("length that is not a number", $"POST /bench-hello/ HTTP/1.1\r\n{host}Content-Length: abc\r\n\r\n"),
            Of("length and chunked", $"POST /bench-hello/ HTTP/1.1\r\n{host}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            Of("bad chunk size", $"POST /bench-hello/ HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZZ\r\nhello\r\n0\r\n\r\n"),
            Of("nul in a header", $"GET /bench-hello/ HTTP/1.1\r\n{host}X-Nul: a\0b\r\n\r\n"),
            Of("non-ASCII header name", $"GET /bench-hello/ HTTP/1.1\r\n{host}X-\u00e9t\u00e9: x\r\n\r\n"),
            Of("garbage", "GARBAGE\r\n\r\n"),
            Of("traversal", $"GET /../../etc/passwd HTTP/1.1\r\n{host}\r\n"),
            Of("websocket upgrade without a key", $"GET /bench-hello/ HTTP/1.1\r\n{host}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n"),
            Of("websocket upgrade of version 99", $"GET /bench-hello/ HTTP/1.1\r\n{host}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 99\r\nSec-WebSocket-Key: x\r\n\r\n"),
            Of("websocket upgrade to an unknown label", $"GET /no-such-label/ HTTP/1.1\r\n{host}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
            Of("websocket upgrade without a token", $"GET /it-auth/ HTTP/1.1\r\n{host}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
            Of("upgrade on a POST with a body", $"POST /bench-hello/ HTTP/1.1\r\n{host}Connection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 5\r\n\r\nhello"),
            Of("upgrade to h2c", $"GET /bench-hello/ HTTP/1.1\r\n{host}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"),
            Of("bad bearer token", $"GET /it-auth/ HTTP/1.1\r\n{host}Authorization: Bearer {new string('.', 3_000)}\r\n\r\n"),
            Of("slow body", $"POST /bench-hello/ HTTP/1.1\r\n{host}Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"a\":", stall: true),
        ];
    }

    /// <summary>
    /// Sends one request on a new connection and returns its status, or 0 when the connection closed (or, for a stall,
    /// stayed silent for two seconds) without one.
    /// </summary>
    private async Task<int> SendAsync(byte[] request, bool stall, CancellationToken cancellationToken)
    {
        using var socket = new TcpClient();
        await socket.ConnectAsync(IPAddress.Loopback, Gateway.Port, cancellationToken);
        var stream = socket.GetStream();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(stall ? TimeSpan.FromSeconds(2) : TimeSpan.FromSeconds(60));
        try
        {
            await stream.WriteAsync(request, deadline.Token);
        }
        catch (IOException)
        {
            // The gateway may refuse a request before it is all sent; its answer is still there to read.
        }
        var buffer = new byte[4096];
        var received = 0;
        try
        {
            int read;
            while (received < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(received), deadline.Token)) > 0)
            {
                received += read;
                if (buffer.AsSpan(0, received).IndexOf("\r\n"u8) >= 0)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (stall && !cancellationToken.IsCancellationRequested)
        {
        }
        catch (IOException)
        {
        }
        var line = Encoding.ASCII.GetString(buffer, 0, received);
        return line.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) && int.TryParse(line.AsSpan(9, 3), out var status) ? status : 0;
    }
}
