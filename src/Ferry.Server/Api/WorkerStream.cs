using System.Net.WebSockets;
using Ferry.Protocol;
using Ferry.Server.Security;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using static Ferry.Server.Api.Requests;

namespace Ferry.Server.Api;

/// <summary>A worker's WebSocket stream: container starts and stops to it, container events, logs and built images from it.</summary>
internal static partial class WorkerStream
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet(Routes.Templates.WorkerStream, AcceptAsync).RequireAuthorization(Policies.Worker);
    }

    private static async Task AcceptAsync(HttpContext http, Scheduler scheduler)
    {
        if (!http.WebSockets.IsWebSocketRequest)
        {
            throw new BadRequestException("This endpoint takes a WebSocket.");
        }
        using var socket = await http.WebSockets.AcceptWebSocketAsync();
        var peer = new WebSocketPeer<WorkerMessage>(socket, Json.WorkerMessage);
        using var done = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        var sender = peer.SendLoopAsync(done.Token);
        Workers.WorkerState? worker = null;
        try
        {
            await foreach (var message in peer.ReadAllAsync(http.RequestAborted))
            {
                switch (message)
                {
                    case WorkerHello hello when worker is null:
                        worker = scheduler.RegisterWorker(hello, http.User.CredentialId()!, peer);
                        if (worker is null)
                        {
                            // Only the close frame is sent: a refused peer need not finish the handshake.
                            await socket.CloseOutputAsync(WebSocketCloseStatus.PolicyViolation, "refused: this worker id is in use or bound to another token", http.RequestAborted);
                            return;
                        }
                        break;
                    case ContainerStarted started:
                        scheduler.OnContainerStarted(started.ContainerId, started.StartMs, started.WebAddress);
                        break;
                    case ContainerExited exited:
                        scheduler.OnContainerExited(exited.ContainerId, exited.Reason, exited.Detail);
                        break;
                    case ContainerLogs lines:
                        scheduler.OnContainerLogs(lines.Lines);
                        break;
                    case ImageBuilt image when worker is not null:
                        await http.RequestServices.GetRequiredService<IImageStore>().RecordImageAsync(worker.WorkerId, image, http.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow(), http.RequestAborted);
                        break;
                }
            }
        }
        catch (InvalidDataException e)
        {
            LogInvalidMessage(http, "worker " + (worker?.Name ?? "(before hello)"), e);
        }
        finally
        {
            if (worker is not null)
            {
                scheduler.UnregisterWorker(worker);
            }
            peer.Close();
            await done.CancelAsync();
            await sender;
        }
    }
}
