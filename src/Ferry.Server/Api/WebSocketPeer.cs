using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Threading.Channels;
using Ferry.Server.Workers;

namespace Ferry.Server.Api;

/// <summary>
/// One end of a message stream over a WebSocket: sends from an unbounded queue so the scheduler never waits on a
/// slow peer while holding its lock, and reads whole text messages as JSON.
/// </summary>
internal sealed class WebSocketPeer<TMessage>(WebSocket socket, JsonTypeInfo<TMessage> typeInfo) : IPeer<TMessage>
{
    private readonly Channel<TMessage> _outgoing = Channel.CreateUnbounded<TMessage>(new UnboundedChannelOptions { SingleReader = true });

    public bool Send(TMessage message) => _outgoing.Writer.TryWrite(message);

    public void Close() => _outgoing.Writer.TryComplete();

    /// <summary>Sends queued messages until <see cref="Close"/> or the socket fails.</summary>
    public async Task SendLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var message in _outgoing.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                var bytes = JsonSerializer.SerializeToUtf8Bytes(message, typeInfo);
                await socket.SendAsync(bytes, WebSocketMessageType.Text, true, cancellationToken).ConfigureAwait(false);
            }
            if (socket.State == WebSocketState.Open)
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "closed", cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Reads messages until the peer closes; a message that is not valid throws <see cref="InvalidDataException"/>.</summary>
    public async IAsyncEnumerable<TMessage> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[64 * 1024];
        while (true)
        {
            buffer.SetLength(0);
            try
            {
                ValueWebSocketReceiveResult result;
                do
                {
                    result = await socket.ReceiveAsync(chunk.AsMemory(), cancellationToken).ConfigureAwait(false);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        yield break;
                    }
                    buffer.Write(chunk, 0, result.Count);
                }
                while (!result.EndOfMessage);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
                yield break;
            }
            TMessage? message;
            try
            {
                message = JsonSerializer.Deserialize(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), typeInfo);
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"The peer sent a message that is not valid: {e.Message}", e);
            }
            if (message is not null)
            {
                yield return message;
            }
        }
    }
}
