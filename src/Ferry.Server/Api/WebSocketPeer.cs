using System.Net.WebSockets;
using System.Text.Json.Serialization.Metadata;
using System.Threading.Channels;
using Ferry.Protocol.Transport;
using Ferry.Server.Workers;

namespace Ferry.Server.Api;

/// <summary>
/// One end of a message stream over a WebSocket: sends from an unbounded queue so the scheduler never waits on a
/// slow peer while holding its lock, and reads whole text messages as JSON.
/// </summary>
internal sealed class WebSocketPeer<TMessage>(WebSocket socket, JsonTypeInfo<TMessage> typeInfo) : IPeer<TMessage>
    where TMessage : class
{
    private readonly MessageSocket<TMessage, TMessage> _messages = new(socket, typeInfo, typeInfo);
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
                await _messages.SendAsync(message, cancellationToken).ConfigureAwait(false);
            }
            if (_messages.State == WebSocketState.Open)
            {
                await _messages.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "closed", cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Reads messages until the peer closes; a message that is not valid throws <see cref="InvalidDataException"/>.</summary>
    public async IAsyncEnumerable<TMessage> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (true)
        {
            TMessage? message;
            try
            {
                message = await _messages.ReceiveAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
                yield break;
            }
            if (message is null)
            {
                yield break;
            }
            yield return message;
        }
    }
}
