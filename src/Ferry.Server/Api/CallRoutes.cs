using Ferry.Protocol;
using Ferry.Protocol.Validation;
using Ferry.Server.Security;
using Ferry.Server.Scheduling;
using Ferry.Server.Streaming;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using static Ferry.Server.Api.Requests;

namespace Ferry.Server.Api;

/// <summary>Calls: starting one, adding inputs, reading outputs and status, and cancelling.</summary>
internal static class CallRoutes
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost(Routes.Templates.Calls, async (string app, HttpContext http, Scheduler scheduler) =>
        {
            // An app id, or a deployed app's name (a lookup): resolved to the current version now, at call time.
            app = scheduler.ResolveCallTarget(app);
            Access.RequireCallable(http, scheduler, app);
            var request = await ReadAsync(http, Json.CreateCallRequest);
            ThrowIfInvalid(WireValidator.Check(request));
            ValidateInputs(request.Inputs);
            if (request.Kind is not (CallKinds.Sync or CallKinds.Spawn or CallKinds.Map or CallKinds.Stream))
            {
                throw new BadRequestException($"The field 'kind' must be one of: {CallKinds.Sync}, {CallKinds.Spawn}, {CallKinds.Map}, {CallKinds.Stream}.");
            }
            if (string.IsNullOrEmpty(request.CallId) || request.CallId.Length > 128)
            {
                throw new BadRequestException("The field 'callId' must be 1 to 128 characters.");
            }
            var wait = Wait(request.WaitSeconds, "waitSeconds");
            var call = await scheduler.CreateCallAsync(app, request, http.RequestAborted);
            OutputBatch? outputs = null;
            if (request.WaitSeconds > 0)
            {
                // The call just created is waited on as it is; one that finished and left memory is read from the store.
                outputs = call is null
                    ? await scheduler.GetOutputsAsync(request.CallId, 0, wait, 1000, http.RequestAborted)
                    : await scheduler.WaitForOutputsAsync(call, wait, 1000, http.RequestAborted);
            }
            return Ok(new CreateCallResponse(request.CallId, outputs), Json.CreateCallResponse);
        }).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapPost(Routes.Templates.Inputs, async (string id, HttpContext http, Scheduler scheduler) =>
        {
            await Access.RequireCallAsync(http, scheduler, id);
            var request = await ReadAsync(http, Json.AddInputsRequest);
            ThrowIfInvalid(WireValidator.Check(request));
            ValidateInputs(request.Inputs);
            return Ok(new AddInputsResponse(await scheduler.AddInputsAsync(id, request, http.RequestAborted)), Json.AddInputsResponse);
        }).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapGet(Routes.Templates.Outputs, async (string id, long? after, double? wait, int? limit, HttpContext http, Scheduler scheduler) =>
        {
            await Access.RequireCallAsync(http, scheduler, id);
            var batch = await scheduler.GetOutputsAsync(id, Cursor(after), Wait(wait, "wait"), Math.Clamp(limit ?? 10_000, 1, 10_000), http.RequestAborted);
            return Ok(batch, Json.OutputBatch);
        }).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapGet(Routes.Templates.Call, async (string id, HttpContext http, Scheduler scheduler) =>
        {
            await Access.RequireCallAsync(http, scheduler, id);
            return Ok(await scheduler.GetStatusAsync(id, http.RequestAborted), Json.CallStatus);
        }).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapPost(Routes.Templates.CancelCall, async (string id, HttpContext http, Scheduler scheduler, StreamRelay streams) =>
        {
            await Access.RequireCallAsync(http, scheduler, id);
            var status = await scheduler.CancelCallAsync(id, http.RequestAborted);
            if (status.State == "cancelled")
            {
                streams.OnCancelled(id);
            }
            return Ok(status, Json.CallStatus);
        }).RequireAuthorization(Policies.ClientOrContainer);
    }
}
