using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using FluentAssertions;
using Ferry.Hosting;

namespace Ferry.Tests;

public sealed class ContainerSocketTests
{
    /// <summary>A one-shot server that reads the request head and answers with <paramref name="respond"/>.</summary>
    private static async Task<(Uri Url, Task<string> Request)> ServeOnceAsync(Func<string, string> respond)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var url = new Uri($"ws://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/v1/containers/ct-1/stream");
        var request = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            var stream = client.GetStream();
            var head = new StringBuilder();
            var buffer = new byte[1];
            while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await stream.ReadAsync(buffer) == 1)
            {
                head.Append((char)buffer[0]);
            }
            await stream.WriteAsync(Encoding.ASCII.GetBytes(respond(head.ToString())));
            await stream.FlushAsync();
            listener.Stop();
            return head.ToString();
        });
        await Task.Yield();
        return (url, request);
    }

    [Fact]
    public async Task A_refused_upgrade_names_the_status()
    {
        var (url, request) = await ServeOnceAsync(_ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");

        var act = () => ContainerSocket.ConnectAsync(url, new Dictionary<string, string> { ["X-Ferry-Token"] = "secret" }, CancellationToken.None);

        (await act.Should().ThrowAsync<WebSocketException>()).WithMessage("The server refused the connection: HTTP/1.1 404 Not Found.");
        var sent = await request;
        sent.Should().StartWith("GET /v1/containers/ct-1/stream HTTP/1.1\r\n").And.Contain("X-Ferry-Token: secret\r\n").And.Contain("Upgrade: websocket\r\n");
    }

    [Fact]
    public async Task An_upgrade_that_does_not_answer_the_key_is_rejected()
    {
        var (url, _) = await ServeOnceAsync(_ => "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bogus\r\n\r\n");

        var act = () => ContainerSocket.ConnectAsync(url, new Dictionary<string, string>(), CancellationToken.None);

        await act.Should().ThrowAsync<WebSocketException>().WithMessage("*did not answer this connection's key*");
    }

    [Fact]
    public async Task A_correct_upgrade_gives_an_open_socket()
    {
        var (url, _) = await ServeOnceAsync(head =>
        {
            var key = head.Split("\r\n").Single(l => l.StartsWith("Sec-WebSocket-Key: ", StringComparison.Ordinal))["Sec-WebSocket-Key: ".Length..];
            var accept = Convert.ToBase64String(System.Security.Cryptography.SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
            return $"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n";
        });

        using var socket = await ContainerSocket.ConnectAsync(url, new Dictionary<string, string>(), CancellationToken.None);

        socket.State.Should().Be(WebSocketState.Open);
    }
}
