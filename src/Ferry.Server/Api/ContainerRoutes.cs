using Ferry.Protocol;
using Ferry.Server.Logs;
using Ferry.Server.Scheduling;
using Ferry.Server.Sessions;
using Ferry.Server.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static Ferry.Server.Api.Requests;

namespace Ferry.Server.Api;

/// <summary>Containers: listing and stopping them, their logs, and commands run in them.</summary>
internal static class ContainerRoutes
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapGet(Routes.Templates.Containers, (string? app, Scheduler scheduler) =>
            Ok(new ContainerList(scheduler.ListContainers(app is null ? null : scheduler.ResolveApp(app))), Json.ContainerList));

        v1.MapPost(Routes.Templates.StopContainer, (string id, Scheduler scheduler) =>
        {
            scheduler.StopContainer(id);
            return Results.NoContent();
        });

        v1.MapGet(Routes.Templates.ContainerLogs, async (string id, long? after, double? wait, HttpContext http, Scheduler scheduler, LogHub logs, ILogStore store) =>
        {
            var (cursor, patience) = (Cursor(after), Wait(wait, "wait"));
            var app = scheduler.AppOfContainer(id) ?? await store.FindAppOfContainerAsync(id, http.RequestAborted)
                ?? throw new NotFoundException($"No container with the id '{id}' has run. See `ferry container list`.");
            var batch = await logs.ReadAsync(app, cursor, patience, http.RequestAborted);
            return Ok(batch with { Entries = [.. batch.Entries.Where(e => e.ContainerId == id)] }, Json.LogBatch);
        });

        v1.MapGet(Routes.Templates.Exec, (string id, HttpContext http, Scheduler scheduler, SessionBroker sessions) =>
            SessionRoutes.RelayAsync(http, sessions, session =>
            {
                var command = http.Request.Query["arg"].Select(a => a ?? "").ToList();
                if (command.Count == 0)
                {
                    throw new BadRequestException("Name the command to run: ferry container exec ID -- COMMAND [ARGS...].");
                }
                scheduler.OpenExecSession(id, session, command);
                return null;
            }));
    }
}
