using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using FluentAssertions;
using Ferry.Protocol;
using Ferry.Protocol.Transport;

namespace Ferry.Tests.Transport;

public sealed class MessageSocketTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private TcpClient? _client;
    private TcpClient? _server;
    private WebSocket _left = null!;
    private WebSocket _right = null!;

    /// <summary>Connects two WebSockets over a loopback TCP pair.</summary>
    public async Task InitializeAsync()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            _client = new TcpClient();
            var accepting = listener.AcceptTcpClientAsync();
            await _client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port).WaitAsync(Timeout);
            _server = await accepting.WaitAsync(Timeout);
        }
        finally
        {
            listener.Stop();
        }
        _left = WebSocket.CreateFromStream(_client.GetStream(), new WebSocketCreationOptions { IsServer = false });
        _right = WebSocket.CreateFromStream(_server.GetStream(), new WebSocketCreationOptions { IsServer = true });
    }

    public Task DisposeAsync()
    {
        _left.Dispose();
        _right.Dispose();
        _client?.Dispose();
        _server?.Dispose();
        return Task.CompletedTask;
    }

    private static MessageSocket<ContainerMessage, ContainerMessage> Wrap(WebSocket socket, int maxMessageBytes = MessageSocket<ContainerMessage, ContainerMessage>.DefaultMaxMessageBytes) =>
        new(socket, ProtocolJsonContext.Default.ContainerMessage, ProtocolJsonContext.Default.ContainerMessage, maxMessageBytes);

    [Fact]
    public async Task SendAsync_Message_ArrivesWhole()
    {
        var sender = Wrap(_left);
        var receiver = Wrap(_right);

        await sender.SendAsync(new CancelInputs([1, 2])).AsTask().WaitAsync(Timeout);
        await sender.SendAsync(new ContainerReady(4)).AsTask().WaitAsync(Timeout);

        var first = await receiver.ReceiveAsync().AsTask().WaitAsync(Timeout);
        var second = await receiver.ReceiveAsync().AsTask().WaitAsync(Timeout);
        first.Should().BeOfType<CancelInputs>().Which.InputIds.Should().Equal(1L, 2L);
        second.Should().Be(new ContainerReady(4));
    }

    [Fact]
    public async Task ReceiveAsync_MessageSplitOverFrames_IsAssembled()
    {
        var receiver = Wrap(_right);
        // Larger than the receiver's first buffer, so assembling also grows it.
        var ids = Enumerable.Range(0, 5000).Select(i => 1_000_000_000L + i).ToArray();
        var bytes = JsonSerializer.SerializeToUtf8Bytes<ContainerMessage>(new CancelInputs(ids), ProtocolJsonContext.Default.ContainerMessage);
        var frame = bytes.Length / 3;

        await _left.SendAsync(bytes.AsMemory(0, frame), WebSocketMessageType.Text, false, default).AsTask().WaitAsync(Timeout);
        await _left.SendAsync(bytes.AsMemory(frame, frame), WebSocketMessageType.Text, false, default).AsTask().WaitAsync(Timeout);
        await _left.SendAsync(bytes.AsMemory(2 * frame), WebSocketMessageType.Text, true, default).AsTask().WaitAsync(Timeout);

        var message = await receiver.ReceiveAsync().AsTask().WaitAsync(Timeout);
        message.Should().BeOfType<CancelInputs>().Which.InputIds.Should().Equal(ids);
    }

    [Fact]
    public async Task ReceiveAsync_MessageAtLimit_IsAccepted()
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes<ContainerMessage>(new CancelInputs([7, 8]), ProtocolJsonContext.Default.ContainerMessage);
        var receiver = Wrap(_right, maxMessageBytes: bytes.Length);

        await _left.SendAsync(bytes, WebSocketMessageType.Text, true, default).WaitAsync(Timeout);

        var message = await receiver.ReceiveAsync().AsTask().WaitAsync(Timeout);
        message.Should().BeOfType<CancelInputs>().Which.InputIds.Should().Equal(7L, 8L);
    }

    [Fact]
    public async Task ReceiveAsync_MessageOverLimit_ThrowsInvalidData()
    {
        var receiver = Wrap(_right, maxMessageBytes: 64 * 1024);
        var sender = Wrap(_left);
        var ids = Enumerable.Range(0, 10_000).Select(i => 1_000_000_000L + i).ToArray();

        var sending = sender.SendAsync(new CancelInputs(ids)).AsTask();
        var receive = async () => await receiver.ReceiveAsync().AsTask().WaitAsync(Timeout);

        await receive.Should().ThrowAsync<InvalidDataException>().WithMessage("*larger than the limit of 65536 bytes*");
        _right.Abort();
        await FluentActions.Awaiting(() => sending.WaitAsync(Timeout)).Should().NotThrowAsync<TimeoutException>();
    }

    [Fact]
    public async Task ReceiveAsync_InvalidJson_ThrowsInvalidData()
    {
        var receiver = Wrap(_right);

        await _left.SendAsync(Encoding.UTF8.GetBytes("{\"type\":\"ready\",\"maxInputs\":"), WebSocketMessageType.Text, true, default).WaitAsync(Timeout);

        var receive = async () => await receiver.ReceiveAsync().AsTask().WaitAsync(Timeout);
        (await receive.Should().ThrowAsync<InvalidDataException>().WithMessage("The peer sent a message that is not valid*"))
            .WithInnerException<JsonException>();
    }

    [Fact]
    public async Task ReceiveAsync_InvalidJson_LeavesTheStreamReadable()
    {
        var receiver = Wrap(_right);
        await _left.SendAsync(Encoding.UTF8.GetBytes("not json"), WebSocketMessageType.Text, true, default).WaitAsync(Timeout);
        await Wrap(_left).SendAsync(new ContainerReady(2)).AsTask().WaitAsync(Timeout);

        var receive = async () => await receiver.ReceiveAsync().AsTask().WaitAsync(Timeout);
        await receive.Should().ThrowAsync<InvalidDataException>();
        (await receiver.ReceiveAsync().AsTask().WaitAsync(Timeout)).Should().Be(new ContainerReady(2));
    }

    [Fact]
    public async Task CloseOutputAsync_StatusAndDescription_VisibleToPeer()
    {
        var closer = Wrap(_left);
        var receiver = Wrap(_right);

        await closer.CloseOutputAsync(WebSocketCloseStatus.PolicyViolation, "refused: in use").WaitAsync(Timeout);

        (await receiver.ReceiveAsync().AsTask().WaitAsync(Timeout)).Should().BeNull();
        receiver.CloseStatus.Should().Be(WebSocketCloseStatus.PolicyViolation);
        receiver.CloseStatusDescription.Should().Be("refused: in use");
    }

    [Fact]
    public async Task CloseAsync_BothSides_EndsReadAllAndCloses()
    {
        var closer = Wrap(_left);
        var receiver = Wrap(_right);
        await closer.SendAsync(new ContainerReady(1)).AsTask().WaitAsync(Timeout);

        var closing = closer.CloseAsync(WebSocketCloseStatus.NormalClosure, "stopped");
        var received = new List<ContainerMessage>();
        await foreach (var message in receiver.ReadAllAsync().WithCancellation(new CancellationTokenSource(Timeout).Token))
        {
            received.Add(message);
        }
        await receiver.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye").WaitAsync(Timeout);
        await closing.WaitAsync(Timeout);

        received.Should().Equal(new ContainerReady(1));
        receiver.CloseStatus.Should().Be(WebSocketCloseStatus.NormalClosure);
        receiver.CloseStatusDescription.Should().Be("stopped");
        closer.CloseStatusDescription.Should().Be("bye");
        closer.State.Should().Be(WebSocketState.Closed);
    }

    [Fact]
    public async Task CloseOutputAsync_AlreadySent_DoesNothing()
    {
        var closer = Wrap(_left);
        await closer.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "first").WaitAsync(Timeout);

        await closer.CloseOutputAsync(WebSocketCloseStatus.InternalServerError, "second").WaitAsync(Timeout);

        var receiver = Wrap(_right);
        (await receiver.ReceiveAsync().AsTask().WaitAsync(Timeout)).Should().BeNull();
        receiver.CloseStatusDescription.Should().Be("first");
    }

    [Fact]
    public async Task CloseAsync_SocketNotOpen_DoesNothing()
    {
        var closer = Wrap(_left);
        _left.Abort();

        await closer.CloseAsync(WebSocketCloseStatus.NormalClosure, "stopped").WaitAsync(Timeout);
        await closer.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "stopped").WaitAsync(Timeout);

        closer.State.Should().Be(WebSocketState.Aborted);
    }
}
