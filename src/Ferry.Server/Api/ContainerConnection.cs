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
    private readonly Channel<ContainerMessage> _outgoing = Channel.CreateUnbounded<ContainerMessage>(new UnboundedChannelOptions { SingleReader = true });

    private ContainerConnection(WebSocket socket)
    {
        _messages = new(socket, Json.ContainerMessage, Json.ContainerMessage);
    }

    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet(Routes.Templates.ContainerStream, AcceptAsync).RequireAuthorization(Policies.Container);
    }

    /// <summary>Queues a message for the container; false once the connection is closed.</summary>
    public bool Send(ContainerMessage message) => _outgoing.Writer.TryWrite(message);

    /// <summary>Sends what is queued, then closes the container's side of the socket.</summary>
    public void Close() => _outgoing.Writer.TryComplete();

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
                    scheduler.OnOutputs(container, batch.Outputs, batch.RunSeconds);
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
            await foreach (var message in _outgoing.Reader.ReadAllAsync(cancellationToken))
            {
                await _messages.SendAsync(message, cancellationToken);
            }
            await _messages.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "closed", cancellationToken);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }
}
