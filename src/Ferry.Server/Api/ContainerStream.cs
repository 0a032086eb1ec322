using Ferry.Protocol;
using Ferry.Server.Security;
using Ferry.Server.Scheduling;
using Ferry.Server.Streaming;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static Ferry.Server.Api.Requests;

namespace Ferry.Server.Api;

/// <summary>A container's WebSocket stream: inputs and cancellations to it, readiness and outputs from it.</summary>
internal static partial class ContainerStream
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet(Routes.Templates.ContainerStream, AcceptAsync).RequireAuthorization(Policies.Container);
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
        var peer = new WebSocketPeer<ContainerMessage>(socket, Json.ContainerMessage);
        using var done = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        var sender = peer.SendLoopAsync(done.Token);
        scheduler.OnContainerConnected(container, peer);
        try
        {
            await foreach (var message in peer.ReadAllAsync(http.RequestAborted))
            {
                switch (message)
                {
                    case ContainerReady ready:
                        scheduler.OnContainerReady(container, ready.MaxInputs);
                        break;
                    case StreamItems items:
                        // Before the input's output, which comes later on this stream, so a caller has every item first.
                        streams.OnItems(container, peer, items);
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
        catch (InvalidDataException e)
        {
            LogInvalidMessage(http, "container " + id, e);
        }
        finally
        {
            scheduler.OnContainerDisconnected(container, peer);
            peer.Close();
            await done.CancelAsync();
            await sender;
        }
    }
}
