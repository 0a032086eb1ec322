using System.Globalization;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Ferry.Protocol;
using Ferry.Protocol.Validation;
using Ferry.Server.Security;
using Ferry.Server.Sessions;
using Ferry.Server.Logs;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ferry.Server.Api;

/// <summary>The HTTP API under <c>/v1</c> and the two streaming channels for workers and containers.</summary>
internal static partial class Endpoints
{
    private static readonly ProtocolJsonContext Json = ProtocolJsonContext.Default;

    public static void Map(IEndpointRouteBuilder routes)
    {
        var v1 = routes.MapGroup(ProtocolInfo.Prefix);

        v1.MapGet("/health", () => Ok(new HealthResponse("ok", ProtocolInfo.Version), Json.HealthResponse)).AllowAnonymous();

        v1.MapPost("/blobs/missing", async (HttpContext http, IBlobStore blobs) =>
        {
            var request = await ReadAsync(http, Json.MissingBlobsRequest);
            ThrowIfInvalid(WireValidator.Check(request));
            return Ok(new MissingBlobsResponse([.. request.Hashes.Distinct().Where(h => !blobs.Exists(h))]), Json.MissingBlobsResponse);
        }).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapPut("/blobs/{hash}", async (string hash, HttpContext http, IBlobStore blobs) =>
        {
            if (!FileBlobStore.IsHash(hash))
            {
                throw new BadRequestException($"'{hash}' is not a lower-case SHA-256 hash.");
            }
            http.Features.Get<IHttpMaxRequestBodySizeFeature>()!.MaxRequestBodySize = ProtocolInfo.MaxBlobBytes;
            if (http.Request.ContentLength > ProtocolInfo.MaxBlobBytes)
            {
                throw new PayloadTooLargeException($"A blob may be at most {ProtocolInfo.MaxBlobBytes / (1024 * 1024)} MiB.");
            }
            if (!await blobs.PutAsync(hash, http.Request.Body, http.RequestAborted))
            {
                throw new BadRequestException($"The uploaded content does not hash to {hash}.");
            }
            return Results.NoContent();
        }).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapGet("/blobs/{hash}", (string hash, IBlobStore blobs) =>
            blobs.OpenRead(hash) is { } stream
                ? Results.Stream(stream, "application/octet-stream")
                : throw new NotFoundException($"No blob has the hash '{hash}'.")).RequireAuthorization(Policies.Any);

        v1.MapPost("/builds", async (HttpContext http, IBlobStore blobs, IStore store) =>
        {
            var request = await ReadAsync(http, Json.CreateBuildRequest);
            ThrowIfInvalid(WireValidator.Check(request));
            if (request.Files.Count == 0 || request.Files.All(f => f.Path != request.EntryAssembly))
            {
                throw new BadRequestException($"The build must contain its entry assembly '{request.EntryAssembly}' (field 'files').");
            }
            var missing = request.Files.Where(f => !blobs.Exists(f.Hash)).Select(f => f.Path).ToList();
            if (missing.Count > 0)
            {
                throw new BadRequestException($"Upload these files before creating the build: {string.Join(", ", missing.Take(5))}.");
            }
            var key = string.Join('\n', request.Files.OrderBy(f => f.Path, StringComparer.Ordinal).Select(f => $"{f.Path}\0{f.Hash}")) + "\n" + request.EntryAssembly;
            var buildId = "bd-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..24];
            await store.SaveBuildAsync(new BuildManifest(buildId, request.EntryAssembly, request.Files), http.RequestAborted);
            return Ok(new CreateBuildResponse(buildId), Json.CreateBuildResponse);
        });

        v1.MapGet("/builds/{id}", async (string id, IStore store, HttpContext http) =>
            await store.GetBuildAsync(id, http.RequestAborted) is { } build
                ? Ok(build, Json.BuildManifest)
                : throw new NotFoundException($"No build has the id '{id}'.")).RequireAuthorization(Policies.ClientOrWorker);

        v1.MapPost("/apps", async (HttpContext http, Scheduler scheduler, IStore store) =>
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

        v1.MapGet("/apps", (Scheduler scheduler) => Ok(new AppList(scheduler.ListApps()), Json.AppList));

        v1.MapGet("/apps/{app}", (string app, Scheduler scheduler) =>
        {
            var id = scheduler.ResolveApp(app);
            return Ok(scheduler.ListApps().First(a => a.AppId == id), Json.AppSummary);
        });

        v1.MapPut("/apps/{app}/definition", async (string app, HttpContext http, Scheduler scheduler) =>
        {
            var definition = await ReadAsync(http, Json.AppDefinition);
            ThrowIfInvalid(WireValidator.Check(definition));
            await scheduler.SetDefinitionAsync(app, definition, http.RequestAborted);
            return Results.NoContent();
        });

        v1.MapPost("/apps/{app}/stop", async (string app, HttpContext http, Scheduler scheduler) =>
        {
            var id = scheduler.ResolveApp(app);
            await scheduler.StopAppAsync(id, http.RequestAborted);
            return Ok(scheduler.ListApps().First(a => a.AppId == id), Json.AppSummary);
        });

        v1.MapGet("/apps/{app}/logs", async (string app, long? after, double? wait, HttpContext http, Scheduler scheduler, LogHub logs) =>
        {
            var (cursor, patience) = (Cursor(after), Wait(wait, "wait"));
            var id = scheduler.ResolveApp(app);
            var batch = await logs.ReadAsync(id, cursor, patience, http.RequestAborted);
            return Ok(batch, Json.LogBatch);
        });

        v1.MapPost("/apps/{app}/calls", async (string app, HttpContext http, Scheduler scheduler) =>
        {
            Access.RequireApp(http, app);
            var request = await ReadAsync(http, Json.CreateCallRequest);
            ThrowIfInvalid(WireValidator.Check(request));
            ValidateInputs(request.Inputs);
            if (request.Kind is not (CallKinds.Sync or CallKinds.Spawn or CallKinds.Map))
            {
                throw new BadRequestException($"The field 'kind' must be one of: {CallKinds.Sync}, {CallKinds.Spawn}, {CallKinds.Map}.");
            }
            if (string.IsNullOrEmpty(request.CallId) || request.CallId.Length > 128)
            {
                throw new BadRequestException("The field 'callId' must be 1 to 128 characters.");
            }
            var callId = await scheduler.CreateCallAsync(app, request, http.RequestAborted);
            OutputBatch? outputs = null;
            if (request.WaitSeconds > 0)
            {
                outputs = await scheduler.GetOutputsAsync(callId, 0, Wait(request.WaitSeconds, "waitSeconds"), 1000, http.RequestAborted);
            }
            return Ok(new CreateCallResponse(callId, outputs), Json.CreateCallResponse);
        }).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapPost("/calls/{id}/inputs", async (string id, HttpContext http, Scheduler scheduler) =>
        {
            await Access.RequireCallAsync(http, scheduler, id);
            var request = await ReadAsync(http, Json.AddInputsRequest);
            ThrowIfInvalid(WireValidator.Check(request));
            ValidateInputs(request.Inputs);
            return Ok(new AddInputsResponse(await scheduler.AddInputsAsync(id, request, http.RequestAborted)), Json.AddInputsResponse);
        }).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapGet("/calls/{id}/outputs", async (string id, long? after, double? wait, int? limit, HttpContext http, Scheduler scheduler) =>
        {
            await Access.RequireCallAsync(http, scheduler, id);
            var batch = await scheduler.GetOutputsAsync(id, Cursor(after), Wait(wait, "wait"), Math.Clamp(limit ?? 10_000, 1, 10_000), http.RequestAborted);
            return Ok(batch, Json.OutputBatch);
        }).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapGet("/calls/{id}", async (string id, HttpContext http, Scheduler scheduler) =>
        {
            await Access.RequireCallAsync(http, scheduler, id);
            return Ok(await scheduler.GetStatusAsync(id, http.RequestAborted), Json.CallStatus);
        }).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapPost("/calls/{id}/cancel", async (string id, HttpContext http, Scheduler scheduler) =>
        {
            await Access.RequireCallAsync(http, scheduler, id);
            return Ok(await scheduler.CancelCallAsync(id, http.RequestAborted), Json.CallStatus);
        }).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapGet("/apps/{app}/functions/{function}/stats", (string app, string function, HttpContext http, Scheduler scheduler) =>
        {
            var id = scheduler.ResolveApp(app);
            Access.RequireApp(http, id);
            return Ok(scheduler.GetStats(id, function, null), Json.FunctionStats);
        }).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapPost("/apps/{app}/functions/{function}/stats", async (string app, string function, HttpContext http, Scheduler scheduler) =>
        {
            var id = scheduler.ResolveApp(app);
            Access.RequireApp(http, id);
            var pool = await ReadAsync(http, Json.PoolSpec);
            ThrowIfInvalid(WireValidator.Check(pool));
            return Ok(scheduler.GetStats(id, function, pool), Json.FunctionStats);
        }).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapPost("/apps/{app}/functions/{function}/autoscaler", async (string app, string function, HttpContext http, Scheduler scheduler) =>
        {
            var appId = scheduler.ResolveApp(app);
            Access.RequireApp(http, appId);
            var update = await ReadAsync(http, Json.AutoscalerUpdate);
            ThrowIfInvalid(WireValidator.Check(update));
            return Ok(scheduler.UpdateAutoscaler(appId, function, update.Pool, update), Json.AutoscalerSettings);
        }).RequireAuthorization(Policies.ClientOrContainer);

        v1.MapGet("/containers", (string? app, Scheduler scheduler) =>
            Ok(new ContainerList(scheduler.ListContainers(app is null ? null : scheduler.ResolveApp(app))), Json.ContainerList));

        v1.MapPost("/containers/{id}/stop", (string id, Scheduler scheduler) =>
        {
            scheduler.StopContainer(id);
            return Results.NoContent();
        });

        v1.MapGet("/containers/{id}/stream", ContainerStreamAsync).RequireAuthorization(Policies.Container);
        v1.MapGet("/containers/{id}/logs", async (string id, long? after, double? wait, HttpContext http, Scheduler scheduler, LogHub logs, IStore store) =>
        {
            var (cursor, patience) = (Cursor(after), Wait(wait, "wait"));
            var app = scheduler.AppOfContainer(id) ?? await store.FindAppOfContainerAsync(id, http.RequestAborted)
                ?? throw new NotFoundException($"No container with the id '{id}' has run. See `ferry container list`.");
            var batch = await logs.ReadAsync(app, cursor, patience, http.RequestAborted);
            return Ok(batch with { Entries = [.. batch.Entries.Where(e => e.ContainerId == id)] }, Json.LogBatch);
        });
        v1.MapGet("/containers/{id}/exec", (string id, HttpContext http, Scheduler scheduler, SessionBroker sessions) =>
            SessionAsync(http, sessions, session =>
            {
                var command = http.Request.Query["arg"].Select(a => a ?? "").ToList();
                if (command.Count == 0)
                {
                    throw new BadRequestException("Name the command to run: ferry container exec ID -- COMMAND [ARGS...].");
                }
                scheduler.OpenExecSession(id, session, command);
                return null;
            }));
        v1.MapGet("/apps/{app}/shell", (string app, string? function, HttpContext http, Scheduler scheduler, SessionBroker sessions) =>
            SessionAsync(http, sessions, session =>
            {
                if (string.IsNullOrEmpty(function))
                {
                    throw new BadRequestException("Name the function whose container to open: ferry shell app.cs::FUNCTION.");
                }
                var command = http.Request.Query["arg"].Select(a => a ?? "").ToList();
                return scheduler.OpenShellSession(scheduler.ResolveApp(app), function, session, command.Count == 0 ? ["/bin/bash", "-i"] : command);
            }));
        v1.MapGet("/workers/sessions/{id}", async (string id, HttpContext http, SessionBroker sessions) =>
        {
            if (!http.WebSockets.IsWebSocketRequest)
            {
                throw new BadRequestException("This endpoint takes a WebSocket.");
            }
            using var socket = await http.WebSockets.AcceptWebSocketAsync();
            await sessions.AttachAsync(id, socket);
        }).RequireAuthorization(Policies.Worker);
        v1.MapGet("/workers/stream", WorkerStreamAsync).RequireAuthorization(Policies.Worker);
        v1.MapGet("/images", async (IStore store, HttpContext http) =>
            Ok(new ImageList(await store.ListImagesAsync(http.RequestAborted)), Json.ImageList));

        v1.MapPost("/tokens", async (HttpContext http, TokenRegistry tokens) =>
        {
            var request = await ReadAsync(http, Json.CreateTokenRequest);
            if (string.IsNullOrWhiteSpace(request.Name) || request.Name.Length > 100)
            {
                throw new BadRequestException("The field 'name' must be 1 to 100 characters.");
            }
            if (request.Kind is not (TokenKinds.Client or TokenKinds.Worker))
            {
                throw new BadRequestException($"The field 'kind' must be one of: {TokenKinds.Client}, {TokenKinds.Worker}.");
            }
            return Ok(await tokens.CreateAsync(request.Name, request.Kind, ephemeral: false, http.RequestAborted), Json.CreateTokenResponse);
        });
        v1.MapGet("/tokens", (TokenRegistry tokens) => Ok(new TokenList(tokens.List()), Json.TokenList));
        v1.MapPost("/tokens/{id}/revoke", async (string id, HttpContext http, TokenRegistry tokens) =>
            Ok(await tokens.RevokeAsync(id, http.RequestAborted), Json.TokenSummary));
    }

    /// <summary>
    /// A long poll's wait: absent or negative waits not at all, and at most 60 seconds are waited. NaN or an infinity
    /// (<c>wait=1e400</c>) is refused rather than read as no wait or the longest one.
    /// </summary>
    private static TimeSpan Wait(double? seconds, string name)
    {
        var value = seconds ?? 0;
        if (!double.IsFinite(value))
        {
            throw new BadRequestException($"The parameter '{name}' must be a finite number of seconds (at most 60 are waited), not {value.ToString(CultureInfo.InvariantCulture)}.");
        }
        return TimeSpan.FromSeconds(Math.Clamp(value, 0, 60));
    }

    /// <summary>A position in a log or a call's outputs: absent is the start; a negative one names no position.</summary>
    private static long Cursor(long? after) => after switch
    {
        null => 0,
        < 0 => throw new BadRequestException($"The parameter 'after' must be a cursor of 0 or more, such as the 'next' of the previous answer, not {after}."),
        { } cursor => cursor,
    };

    private static IResult Ok<T>(T value, JsonTypeInfo<T> typeInfo) => Results.Json(value, typeInfo);

    /// <summary>Answers 400 with the validator's first problem, before the request changes anything.</summary>
    private static void ThrowIfInvalid(string? problem)
    {
        if (problem is not null)
        {
            throw new BadRequestException(problem);
        }
    }

    private static void ValidateInputs(IReadOnlyList<InputItem> inputs)
    {
        if (inputs.Count > ProtocolInfo.MaxInputsPerRequest)
        {
            throw new PayloadTooLargeException($"A request may carry at most {ProtocolInfo.MaxInputsPerRequest} inputs; it had {inputs.Count}.");
        }
        for (var i = 0; i < inputs.Count; i++)
        {
            var input = inputs[i];
            if (input.Index < 0)
            {
                throw new BadRequestException($"The field 'inputs[{i}].index' must not be negative.");
            }
            if ((input.Args is null) == (input.ArgsBlob is null))
            {
                throw new BadRequestException($"Input {i} must have exactly one of 'inputs[{i}].args' and 'inputs[{i}].argsBlob'.");
            }
            if (input.Args is { } args && args.ValueKind != JsonValueKind.Array)
            {
                throw new BadRequestException($"The field 'inputs[{i}].args' must be a JSON array of arguments.");
            }
            if (input.Args is { } inline && inline.GetRawText().Length > ProtocolInfo.InlinePayloadLimit)
            {
                throw new PayloadTooLargeException($"Input {i} is larger than the inline limit of {ProtocolInfo.InlinePayloadLimit / (1024 * 1024)} MiB; upload it as a blob and send 'argsBlob'.");
            }
        }
    }

    /// <summary>Reads a JSON body, turning every way it can be wrong into a 400 that names the field.</summary>
    private static async Task<T> ReadAsync<T>(HttpContext http, JsonTypeInfo<T> typeInfo)
    {
        if (http.Request.ContentLength > ProtocolInfo.MaxRequestBytes)
        {
            throw new PayloadTooLargeException($"A request body may be at most {ProtocolInfo.MaxRequestBytes / (1024 * 1024)} MiB; send large payloads as blobs.");
        }
        try
        {
            return await JsonSerializer.DeserializeAsync(http.Request.Body, typeInfo, http.RequestAborted)
                ?? throw new BadRequestException("The request body must be a JSON object, not null.");
        }
        catch (JsonException e)
        {
            var field = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? null : e.Path;
            var detail = e.Message.Split(" Path:", 2)[0];
            throw new BadRequestException(field is null ? $"The request body is not valid: {detail}" : $"The field '{field}' is not valid: {detail}");
        }
    }

    private static async Task ContainerStreamAsync(string id, HttpContext http, Scheduler scheduler)
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
                    case ContainerOutputBatch batch:
                        scheduler.OnOutputs(container, batch.Outputs);
                        break;
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

    /// <summary>Accepts a client's session socket and relays it to a worker; errors before that reach the client's stderr.</summary>
    private static async Task SessionAsync(HttpContext http, SessionBroker sessions, Func<string, Action?> open)
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

    private static async Task WorkerStreamAsync(HttpContext http, Scheduler scheduler)
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
                        scheduler.OnContainerStarted(started.ContainerId, started.StartMs);
                        break;
                    case ContainerExited exited:
                        scheduler.OnContainerExited(exited.ContainerId, exited.Reason, exited.Detail);
                        break;
                    case ContainerLogs lines:
                        scheduler.OnContainerLogs(lines.Lines);
                        break;
                    case ImageBuilt image when worker is not null:
                        await http.RequestServices.GetRequiredService<IStore>().RecordImageAsync(worker.WorkerId, image, DateTimeOffset.UtcNow, http.RequestAborted);
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

internal static partial class Endpoints
{
    private static void LogInvalidMessage(HttpContext http, string peer, Exception error) =>
        LogInvalid(http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Ferry.Server.Streams"), peer, error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Closing the stream of {Peer}: it sent an invalid message.")]
    private static partial void LogInvalid(ILogger logger, string peer, Exception error);
}

/// <summary>A request that is malformed; the message names what is wrong.</summary>
internal sealed class BadRequestException(string message) : Exception(message);

/// <summary>A request or payload over a limit; the message names the limit.</summary>
internal sealed class PayloadTooLargeException(string message) : Exception(message);
