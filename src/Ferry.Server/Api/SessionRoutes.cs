using Ferry.Protocol;
using Ferry.Server.Security;
using Ferry.Server.Scheduling;
using Ferry.Server.Sessions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Ferry.Server.Api;

/// <summary>Sessions: a shell in a function's image, and the worker's end of every session.</summary>
internal static class SessionRoutes
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet(Routes.Templates.Shell, (string app, string? function, HttpContext http, Scheduler scheduler, SessionBroker sessions) =>
            RelayAsync(http, sessions, session =>
            {
                if (string.IsNullOrEmpty(function))
                {
                    throw new BadRequestException("Name the function whose container to open: ferry shell app.cs::FUNCTION.");
                }
                var command = http.Request.Query["arg"].Select(a => a ?? "").ToList();
                return scheduler.OpenShellSession(scheduler.ResolveApp(app), function, session, command.Count == 0 ? ["/bin/bash", "-i"] : command);
            }));

        v1.MapGet(Routes.Templates.WorkerSession, async (string id, HttpContext http, SessionBroker sessions) =>
        {
            if (!http.WebSockets.IsWebSocketRequest)
            {
                throw new BadRequestException("This endpoint takes a WebSocket.");
            }
            using var socket = await http.WebSockets.AcceptWebSocketAsync();
            await sessions.AttachAsync(id, socket);
        }).RequireAuthorization(Policies.Worker);
    }

    /// <summary>Accepts a client's session socket and relays it to a worker; errors before that reach the client's stderr.</summary>
    public static async Task RelayAsync(HttpContext http, SessionBroker sessions, Func<string, Action?> open)
    {
        if (!http.WebSockets.IsWebSocketRequest)
        {
            throw new BadRequestException("This endpoint takes a WebSocket.");
        }
        using var socket = await http.WebSockets.AcceptWebSocketAsync();
        var session = sessions.Create();
        Action? release;
        try
        {
            release = open(session);
        }
        catch (Exception e) when (e is NotFoundException or ConflictException or BadRequestException)
        {
            sessions.Abandon(session);
            await SessionBroker.FailAsync(socket, e.Message, http.RequestAborted);
            return;
        }
        try
        {
            await sessions.RunAsync(session, socket, http.RequestAborted);
        }
        finally
        {
            release?.Invoke();
        }
    }
}
