using Ferry.Protocol;
using Ferry.Protocol.Validation;
using Ferry.Server.Logs;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static Ferry.Server.Api.Requests;

namespace Ferry.Server.Api;

/// <summary>Apps: creating, listing and stopping them, publishing their definitions, and reading their logs.</summary>
internal static class AppRoutes
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost(Routes.Templates.Apps, async (HttpContext http, Scheduler scheduler, IAppStore store) =>
        {
            var request = await ReadAsync(http, Json.CreateAppRequest);
            ThrowIfInvalid(WireValidator.Check(request));
            if (request.BuildId is { } buildId && await store.GetBuildAsync(buildId, http.RequestAborted) is null)
            {
                throw new NotFoundException($"No build has the id '{buildId}'.");
            }
            var app = await scheduler.CreateAppAsync(request, http.RequestAborted);
            return Ok(new CreateAppResponse(app.AppId), Json.CreateAppResponse);
        });

        v1.MapGet(Routes.Templates.Apps, (Scheduler scheduler) => Ok(new AppList(scheduler.ListApps()), Json.AppList));

        v1.MapGet(Routes.Templates.App, (string app, Scheduler scheduler) =>
        {
            var id = scheduler.ResolveApp(app);
            return Ok(scheduler.ListApps().First(a => a.AppId == id), Json.AppSummary);
        });

        v1.MapPut(Routes.Templates.Definition, async (string app, HttpContext http, Scheduler scheduler, Objects.VolumeService volumes) =>
        {
            var definition = await ReadAsync(http, Json.AppDefinition);
            ThrowIfInvalid(WireValidator.Check(definition));
            await volumes.PrepareMountsAsync(definition, http.RequestAborted);
            await scheduler.SetDefinitionAsync(app, definition, http.RequestAborted);
            return Results.NoContent();
        });

        v1.MapPost(Routes.Templates.StopApp, async (string app, HttpContext http, Scheduler scheduler) =>
        {
            var id = scheduler.ResolveApp(app);
            await scheduler.StopAppAsync(id, http.RequestAborted);
            return Ok(scheduler.ListApps().First(a => a.AppId == id), Json.AppSummary);
        });

        v1.MapGet(Routes.Templates.AppLogs, async (string app, long? after, double? wait, HttpContext http, Scheduler scheduler, LogHub logs) =>
        {
            var (cursor, patience) = (Cursor(after), Wait(wait, "wait"));
            var id = scheduler.ResolveApp(app);
            var batch = await logs.ReadAsync(id, cursor, patience, http.RequestAborted);
            return Ok(batch, Json.LogBatch);
        });
    }
}
