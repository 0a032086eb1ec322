using System.Net.WebSockets;
using System.Threading.Channels;
using Ferry.Protocol;
using Ferry.Protocol.Transport;
using Ferry.Server.Scheduling;
using Ferry.Server.Security;
using Ferry.Server.Streaming;
using Ferry.Server.Workers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static Ferry.Server.Api.Requests;

namespace Ferry.Server.Api;

/// <summary>
/// A container's WebSocket to the control plane: inputs and cancellations to it, readiness, stream items and outputs
/// from it. Messages to the container leave from an unbounded queue, so the scheduler never waits on a slow container
/// while it holds its lock; messages from it go straight to the scheduler on the thread that read them.
/// </summary>
internal sealed partial class ContainerConnection : IPeer<ContainerMessage>
{
    private readonly MessageSocket<ContainerMessage, ContainerMessage> _messages;
    // Not single-reader: Send asks how many messages wait, which only the general channel can tell.
    private readonly Channel<ContainerMessage> _outgoing = Channel.CreateUnbounded<ContainerMessage>();

    // Held while a message is being sent: by the send loop, or by Send for a message it sends at once.
    private readonly SemaphoreSlim _sending = new(1, 1);
    private volatile bool _closed;

    private ContainerConnection(WebSocket socket)
    {
        _messages = new(socket, Json.ContainerMessage, Json.ContainerMessage);
    }

    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet(Routes.Templates.ContainerStream, AcceptAsync).RequireAuthorization(Policies.Container);
    }

    /// <summary>
    /// Queues a message for the container; false once the connection is closed. A single input to an idle connection
    /// (a warm call's) is written at once on the caller's thread, without waking the send loop: it is small, and the
    /// write only hands it to the server's socket, so the scheduler's lock is not held for long. Anything larger, or
    /// anything behind other messages, goes through the queue.
    /// </summary>
    public bool Send(ContainerMessage message)
    {
        if (message is InputBatch { Inputs.Count: 1 } && !_closed && _outgoing.Reader.Count == 0 && _sending.Wait(0))
        {
            // Checked again while holding the send: a message queued meanwhile must leave first.
            if (_outgoing.Reader.Count == 0)
            {
                var sent = _messages.SendAsync(message);
                if (sent.IsCompletedSuccessfully)
                {
                    _sending.Release();
                }
                else
                {
                    _ = FinishSendAsync(sent);
                }
                return true;
            }
            _sending.Release();
        }
        return _outgoing.Writer.TryWrite(message);
    }

    /// <summary>Sends what is queued, then closes the container's side of the socket.</summary>
    public void Close()
    {
        _closed = true;
        _outgoing.Writer.TryComplete();
    }

    private async Task FinishSendAsync(ValueTask sent)
    {
        try
        {
            await sent.ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The connection is failing: its reads end too, and the scheduler re-runs what the container held.
        }
        finally
        {
            _sending.Release();
        }
    }

    private static async Task AcceptAsync(string id, HttpContext http, Scheduler scheduler, StreamRelay streams)
    {
        // The token names one container; it opens that container's stream and no other.
        if (http.User.CredentialId() != id || scheduler.FindContainer(id) is not { } container)
        {
            throw new ForbiddenException("A container's token opens its own stream only.");
        }
        if (!http.WebSockets.IsWebSocketRequest)
        {
            throw new BadRequestException("This endpoint takes a WebSocket.");
        }
        using var socket = await http.WebSockets.AcceptWebSocketAsync();
        var connection = new ContainerConnection(socket);
        using var done = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        var sender = connection.SendLoopAsync(done.Token);
        scheduler.OnContainerConnected(container, connection);
        try
        {
            await connection.ReadAsync(container, scheduler, streams, http.RequestAborted);
        }
        catch (InvalidDataException e)
        {
            LogInvalidMessage(http, "container " + id, e);
        }
        finally
        {
            scheduler.OnContainerDisconnected(container, connection);
            connection.Close();
            await done.CancelAsync();
            await sender;
        }
    }

    /// <summary>
    /// Hands the container's messages to the scheduler until it closes its side, its start fails, or the socket fails.
    /// A message that is not valid throws <see cref="InvalidDataException"/>.
    /// </summary>
    private async Task ReadAsync(ContainerState container, Scheduler scheduler, StreamRelay streams, CancellationToken cancellationToken)
    {
        while (true)
        {
            ContainerMessage? message;
            try
            {
                message = await _messages.ReceiveAsync(cancellationToken);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
                return;
            }
            switch (message)
            {
                case null:
                    return;
                case ContainerReady ready:
                    scheduler.OnContainerReady(container, ready.MaxInputs);
                    break;
                case StreamItems items:
                    // Before the input's output, which comes later on this stream, so a caller has every item first.
                    streams.OnItems(container, this, items);
                    break;
                case ContainerOutputBatch batch:
                    scheduler.OnOutputs(container, batch.Outputs);
                    break;
                case ContainerStartFailed failed:
                    scheduler.OnContainerStartFailed(container, failed.Error);
                    // Closing tells the container its report is taken, so it can exit.
                    return;
            }
        }
    }

    /// <summary>Sends queued messages until <see cref="Close"/> or the socket fails.</summary>
    private async Task SendLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (await _outgoing.Reader.WaitToReadAsync(cancellationToken))
            {
                await _sending.WaitAsync(cancellationToken);
                try
                {
                    while (_outgoing.Reader.TryRead(out var message))
                    {
                        await _messages.SendAsync(message, cancellationToken);
                    }
                }
                finally
                {
                    _sending.Release();
                }
            }
            await _sending.WaitAsync(cancellationToken);
            await _messages.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "closed", cancellationToken);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }
}
