using Ferry.Protocol;
using Ferry.Protocol.Validation;
using Ferry.Server.Deployments;
using Ferry.Server.Scheduling;
using Ferry.Server.Security;
using Ferry.Server.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static Ferry.Server.Api.Requests;

namespace Ferry.Server.Api;

/// <summary>Deployed apps: deploying, history, rollback, schedules, lookups of a definition, and ephemeral apps' heartbeats.</summary>
internal static class DeploymentRoutes
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost(Routes.Templates.Deployments, async (HttpContext http, DeploymentService deployments, IAppStore store, Objects.VolumeService volumes) =>
        {
            var request = await ReadAsync(http, Json.DeployRequest);
            if (string.IsNullOrWhiteSpace(request.Name) || request.Name.Length > 128)
            {
                throw new BadRequestException("The field 'name' must be 1 to 128 characters.");
            }
            if (request.Tag is { Length: > 200 } || request.Source is { Length: > 500 })
            {
                throw new BadRequestException("The field 'tag' may be at most 200 characters, and 'source' at most 500.");
            }
            ThrowIfInvalid(WireValidator.Check(request.Definition));
            if (await store.GetBuildAsync(request.BuildId, http.RequestAborted) is null)
            {
                throw new NotFoundException($"No build has the id '{request.BuildId}'.");
            }
            await volumes.PrepareMountsAsync(request.Definition, http.RequestAborted);
            return Ok(await deployments.DeployAsync(request, http.RequestAborted), Json.AppVersion);
        });

        v1.MapGet(Routes.Templates.AppHistory, (string app, Scheduler scheduler, DeploymentService deployments) =>
        {
            var name = NameOf(app, scheduler);
            var history = deployments.History(name);
            if (history.Count == 0)
            {
                throw new NotFoundException($"No app named '{name}' was ever deployed; `ferry deploy` makes its first version.");
            }
            return Ok(new AppHistory(name, [.. history.Select(v => deployments.ToVersion(v))]), Json.AppHistory);
        });

        v1.MapPost(Routes.Templates.Rollback, async (string app, HttpContext http, Scheduler scheduler, DeploymentService deployments) =>
        {
            var request = await ReadAsync(http, Json.RollbackRequest);
            if (request.Version is < 1)
            {
                throw new BadRequestException($"The field 'version' must be 1 or more, not {request.Version}.");
            }
            return Ok(await deployments.RollbackAsync(NameOf(app, scheduler), request.Version, null, http.RequestAborted), Json.AppVersion);
        });

        v1.MapPost(Routes.Templates.Heartbeat, (string app, Scheduler scheduler, DeploymentService deployments) =>
        {
            scheduler.Heartbeat(app);
            return Ok(new HeartbeatResponse(deployments.Options.HeartbeatTimeout.TotalSeconds), Json.HeartbeatResponse);
        });

        v1.MapGet(Routes.Templates.Schedules, (DeploymentService deployments) => Ok(new ScheduleList(deployments.Schedules()), Json.ScheduleList));

        // A lookup by name checks the caller's signature against the current version's definition.
        v1.MapGet(Routes.Templates.Definition, (string app, HttpContext http, Scheduler scheduler) =>
        {
            var id = scheduler.ResolveCallTarget(app);
            Access.RequireCallable(http, scheduler, id);
            return Ok(scheduler.GetApp(id).Definition
                ?? throw new NotFoundException($"The app '{app}' has not published its functions yet."), Json.AppDefinition);
        }).RequireAuthorization(Policies.ClientOrContainer);
    }

    /// <summary>A deployed app's name, given its name or the id of one of its versions.</summary>
    private static string NameOf(string app, Scheduler scheduler)
    {
        try
        {
            return scheduler.GetApp(app).Name;
        }
        catch (NotFoundException)
        {
            return app;
        }
    }
}
