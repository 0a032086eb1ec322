using System.Runtime.InteropServices;
using System.Text.Json;
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

/// <summary>
/// Calls: starting one, adding inputs, reading outputs and status, and cancelling. A new call and its inputs are
/// checked here, once and in full, before anything is written.
/// </summary>
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
            var wait = Check(request);
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
            Check(request.Inputs);
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

    /// <summary>
    /// Checks a new call: its id, function, kind, wait, pool and inputs. Returns the wait, within its bounds. Throws
    /// <see cref="BadRequestException"/> naming the first field that is wrong, or <see cref="PayloadTooLargeException"/>
    /// for too many inputs or one over the inline limit.
    /// </summary>
    internal static TimeSpan Check(CreateCallRequest request)
    {
        if (request.CallId.Length is 0 or > 128)
        {
            throw new BadRequestException("The field 'callId' must be 1 to 128 characters.");
        }
        RequireUtf16(request.CallId, "callId");
        if (string.IsNullOrWhiteSpace(request.Function))
        {
            throw new BadRequestException("The field 'function' must not be empty.");
        }
        RequireUtf16(request.Function, "function");
        if (request.Kind is not (CallKinds.Sync or CallKinds.Spawn or CallKinds.Map or CallKinds.Stream))
        {
            throw new BadRequestException($"The field 'kind' must be one of: {CallKinds.Sync}, {CallKinds.Spawn}, {CallKinds.Map}, {CallKinds.Stream}.");
        }
        var wait = Wait(request.WaitSeconds, "waitSeconds");
        if (request.Pool is { } pool)
        {
            // A pool's overrides are the settings a definition carries, and are checked alike.
            ThrowIfInvalid(WireValidator.Check(pool, "pool"));
        }
        Check(request.Inputs);
        return wait;
    }

    /// <summary>Checks the inputs of a call, new or added to: at most a request's worth, each with its arguments once.</summary>
    internal static void Check(IReadOnlyList<InputItem> inputs)
    {
        if (inputs.Count > ProtocolInfo.MaxInputsPerRequest)
        {
            throw new PayloadTooLargeException($"A request may carry at most {ProtocolInfo.MaxInputsPerRequest} inputs; it had {inputs.Count}.");
        }
        for (var i = 0; i < inputs.Count; i++)
        {
            // Deserialization lets a null item of a list through.
            var input = inputs[i] ?? throw new BadRequestException($"The field 'inputs[{i}]' must not be null.");
            if (input.Index < 0)
            {
                throw new BadRequestException($"The field 'inputs[{i}].index' must not be negative.");
            }
            if ((input.Args is null) == (input.ArgsBlob is null))
            {
                throw new BadRequestException($"Input {i} must have exactly one of 'inputs[{i}].args' and 'inputs[{i}].argsBlob'.");
            }
            if (input.ArgsBlob is { } blob)
            {
                RequireUtf16(blob, $"inputs[{i}].argsBlob");
                continue;
            }
            var args = input.Args!.Value;
            if (args.ValueKind != JsonValueKind.Array)
            {
                throw new BadRequestException($"The field 'inputs[{i}].args' must be a JSON array of arguments.");
            }
            // The limit counts characters of text, which are never more than the UTF-8 bytes: small arguments are
            // measured as received, without being copied out to text.
            if (JsonMarshal.GetRawUtf8Value(args).Length > ProtocolInfo.InlinePayloadLimit && args.GetRawText().Length > ProtocolInfo.InlinePayloadLimit)
            {
                throw new PayloadTooLargeException($"Input {i} is larger than the inline limit of {ProtocolInfo.InlinePayloadLimit / (1024 * 1024)} MiB; upload it as a blob and send 'argsBlob'.");
            }
            // The field's name is formatted only for arguments that may hold a lone surrogate.
            if (WireRules.MayHoldLoneSurrogate(args) && WireRules.StringProblem(args, $"inputs[{i}].args") is { } problem)
            {
                throw new BadRequestException(problem);
            }
        }
    }

    private static void RequireUtf16(string value, string field)
    {
        if (!WireRules.IsValidUtf16(value))
        {
            throw new BadRequestException($"The field '{field}' is not valid UTF-16: it has a lone surrogate.");
        }
    }
}
