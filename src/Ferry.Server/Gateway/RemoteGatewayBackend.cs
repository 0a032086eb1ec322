using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Serialization.Metadata;
using System.Threading.Channels;
using Ferry.Protocol;
using Microsoft.Extensions.Logging;

namespace Ferry.Server.Gateway;

/// <summary>
/// The gateway of <c>ferry gateway</c>: routes, slots and proxy-token checks from a server over its API, with a gateway
/// token. A request costs one round trip to the server (the slot); releases, renewals and log lines travel in batches
/// on one background loop. Routes are cached for <see cref="RouteCacheDuration"/> and proxy-token answers for
/// <see cref="ProxyTokenCacheDuration"/>, which bounds how long a revoked proxy token still opens endpoints here.
/// </summary>
internal sealed partial class RemoteGatewayBackend : IGatewayBackend, IAsyncDisposable
{
    /// <summary>How long a label's route (or its absence) is reused before the server is asked again.</summary>
    public static readonly TimeSpan RouteCacheDuration = TimeSpan.FromSeconds(2);

    /// <summary>How long a proxy token's check is reused: a revoked token stops working here within this bound.</summary>
    public static readonly TimeSpan ProxyTokenCacheDuration = TimeSpan.FromSeconds(5);

    private const int MaxCached = 10_000;
    private const int MaxPerSync = 5_000;
    private const int MaxQueuedLogs = 10_000;

    private readonly HttpClient _http;
    private readonly Uri _server;
    private readonly TimeProvider _clock;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, (GatewayRoute? Route, DateTimeOffset Until)> _routes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (bool Valid, DateTimeOffset Until)> _proxyTokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _held = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _released = new();
    private readonly ConcurrentQueue<GatewayLogLine> _logs = new();
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stop = new();
    private TimeSpan _leaseDuration;
    private Task _loop = Task.CompletedTask;

    private RemoteGatewayBackend(HttpClient http, Uri server, TimeProvider clock, ILogger logger)
    {
        _http = http;
        _server = server;
        _clock = clock;
        _logger = logger;
    }

    /// <summary>This gateway process, as its leases name it.</summary>
    public string GatewayId { get; } = Ids.New("gw");

    /// <summary>How many slots this gateway holds now.</summary>
    public int HeldSlots => _held.Count;

    /// <summary>
    /// Checks that the server answers and accepts <paramref name="token"/> as a gateway token, then starts the lease loop.
    /// </summary>
    /// <exception cref="GatewayUnavailableException">The server is unreachable, or refuses the token; the message says which.</exception>
    public static async Task<RemoteGatewayBackend> ConnectAsync(Uri server, string token, string? fingerprint, TimeProvider clock, ILogger logger, CancellationToken cancellationToken)
    {
        var http = new HttpClient(Credentials.Handler(fingerprint)) { BaseAddress = server, Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.Authorization = Credentials.Header(token);
        var backend = new RemoteGatewayBackend(http, server, clock, logger);
        try
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(TimeSpan.FromSeconds(15));
            var hello = await backend.SendAsync(Routes.GatewaySync, new GatewaySyncRequest(backend.GatewayId, [], []),
                ProtocolJsonContext.Default.GatewaySyncRequest, ProtocolJsonContext.Default.GatewaySyncResponse, limit.Token).ConfigureAwait(false);
            backend._leaseDuration = TimeSpan.FromSeconds(hello.LeaseSeconds);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            http.Dispose();
            throw new GatewayUnavailableException($"The server at {server} did not answer within 15 seconds.");
        }
        catch
        {
            http.Dispose();
            throw;
        }
        backend._loop = backend.SyncLoopAsync(backend._stop.Token);
        return backend;
    }

    public async ValueTask<GatewayRoute?> FindRouteAsync(string label, CancellationToken cancellationToken)
    {
        var now = _clock.GetUtcNow();
        if (_routes.TryGetValue(label, out var cached) && cached.Until > now)
        {
            return cached.Route;
        }
        GatewayRoute? route;
        using (var response = await CallAsync(HttpMethod.Get, Routes.GatewayRoute(label), null, cancellationToken).ConfigureAwait(false))
        {
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                route = null;
            }
            else
            {
                await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
                var info = await response.Content.ReadFromJsonAsync(ProtocolJsonContext.Default.GatewayRouteInfo, cancellationToken).ConfigureAwait(false)
                    ?? throw new GatewayUnavailableException($"The server at {_server} answered an empty route for '{label}'.");
                route = new GatewayRoute(info.Spec, info.AppId, info.PoolId);
            }
        }
        if (_routes.Count >= MaxCached)
        {
            _routes.Clear();
        }
        _routes[label] = (route, now + RouteCacheDuration);
        return route;
    }

    public async ValueTask<GatewaySlot> AcquireAsync(GatewayRoute route, TimeSpan wait, CancellationToken cancellationToken)
    {
        // Releases still queued ride with the request, so the server frees them before it looks for a slot.
        var release = new List<string>();
        while (release.Count < MaxPerSync && _released.TryDequeue(out var released))
        {
            release.Add(released);
        }
        AcquireSlotResponse answer;
        try
        {
            answer = await SendAsync(Routes.GatewaySlots, new AcquireSlotRequest(GatewayId, route.Spec.Label, route.AppId, wait.TotalSeconds, release),
                ProtocolJsonContext.Default.AcquireSlotRequest, ProtocolJsonContext.Default.AcquireSlotResponse, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // The server may not have seen them: the lease loop sends them again (releasing twice is harmless).
            foreach (var unsent in release)
            {
                _released.Enqueue(unsent);
            }
            _wake.Writer.TryWrite(true);
            throw;
        }
        if (answer.RouteChanged)
        {
            _routes.TryRemove(route.Spec.Label, out _);
            return new GatewaySlot(null, null, null, null, RouteChanged: true);
        }
        if (answer.LeaseId is not { } leaseId || answer.Destination is null)
        {
            return new GatewaySlot(null, null, null, answer.Failure ?? "The server granted no container slot.");
        }
        _held[leaseId] = 0;
        return new GatewaySlot(leaseId, answer.Destination, answer.ContainerId, null);
    }

    public void Release(in GatewaySlot slot)
    {
        var leaseId = (string)slot.Holder!;
        if (_held.TryRemove(leaseId, out _))
        {
            _released.Enqueue(leaseId);
            _wake.Writer.TryWrite(true);
        }
    }

    public async ValueTask<bool> IsProxyTokenAsync(string tokenId, string secret, CancellationToken cancellationToken)
    {
        var key = tokenId + "." + secret;
        var now = _clock.GetUtcNow();
        if (_proxyTokens.TryGetValue(key, out var cached) && cached.Until > now)
        {
            return cached.Valid;
        }
        var answer = await SendAsync(Routes.GatewayProxyToken, new ProxyTokenCheck(tokenId, secret),
            ProtocolJsonContext.Default.ProxyTokenCheck, ProtocolJsonContext.Default.ProxyTokenResult, cancellationToken).ConfigureAwait(false);
        if (_proxyTokens.Count >= MaxCached)
        {
            _proxyTokens.Clear();
        }
        _proxyTokens[key] = (answer.Valid, now + ProxyTokenCacheDuration);
        return answer.Valid;
    }

    public void Log(GatewayRoute route, string? containerId, string text)
    {
        if (_logs.Count < MaxQueuedLogs)
        {
            _logs.Enqueue(new GatewayLogLine(route.AppId, route.PoolId, containerId, text));
            _wake.Writer.TryWrite(true);
        }
    }

    /// <summary>
    /// Sends releases and log lines as soon as there are any (several requests' worth per exchange under load), and
    /// renews every held lease each third of the lease's duration.
    /// </summary>
    private async Task SyncLoopAsync(CancellationToken stop)
    {
        var lastRenewal = _clock.GetUtcNow();
        while (!stop.IsCancellationRequested)
        {
            var renewEvery = _leaseDuration / 3;
            var untilRenewal = lastRenewal + renewEvery - _clock.GetUtcNow();
            if (untilRenewal > TimeSpan.Zero && !_wake.Reader.TryRead(out _))
            {
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(stop);
                try
                {
                    await Task.WhenAny(_wake.Reader.WaitToReadAsync(wait.Token).AsTask(), Task.Delay(untilRenewal, _clock, wait.Token)).ConfigureAwait(false);
                }
                finally
                {
                    await wait.CancelAsync().ConfigureAwait(false);
                }
                _wake.Reader.TryRead(out _);
                if (stop.IsCancellationRequested)
                {
                    break;
                }
            }
            var renew = _clock.GetUtcNow() - lastRenewal >= renewEvery;
            var started = _clock.GetUtcNow();
            if (!await SyncOnceAsync(renew, releaseHeld: false, stop).ConfigureAwait(false))
            {
                // The server is unreachable: try again shortly rather than spin; leases lapse there if this lasts.
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), _clock, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                continue;
            }
            if (renew)
            {
                lastRenewal = started;
            }
        }
    }

    /// <summary>One exchange; false when it failed (the releases go back in the queue).</summary>
    private async Task<bool> SyncOnceAsync(bool renew, bool releaseHeld, CancellationToken cancellationToken)
    {
        var release = new List<string>();
        while (release.Count < MaxPerSync && _released.TryDequeue(out var leaseId))
        {
            release.Add(leaseId);
        }
        if (releaseHeld)
        {
            foreach (var leaseId in _held.Keys)
            {
                if (_held.TryRemove(leaseId, out _))
                {
                    release.Add(leaseId);
                }
            }
        }
        var logs = new List<GatewayLogLine>();
        while (logs.Count < 1_000 && _logs.TryDequeue(out var line))
        {
            logs.Add(line);
        }
        var renewals = renew ? _held.Keys.Take(MaxPerSync).ToList() : [];
        if (release.Count == 0 && logs.Count == 0 && renewals.Count == 0)
        {
            return true;
        }
        if (!_released.IsEmpty || !_logs.IsEmpty)
        {
            _wake.Writer.TryWrite(true);
        }
        try
        {
            var answer = await SendAsync(Routes.GatewaySync, new GatewaySyncRequest(GatewayId, renewals, release, logs.Count == 0 ? null : logs),
                ProtocolJsonContext.Default.GatewaySyncRequest, ProtocolJsonContext.Default.GatewaySyncResponse, cancellationToken).ConfigureAwait(false);
            _leaseDuration = TimeSpan.FromSeconds(answer.LeaseSeconds);
            foreach (var lapsed in answer.Unknown)
            {
                if (_held.TryRemove(lapsed, out _))
                {
                    LogLeaseLapsed(_logger, lapsed);
                }
            }
            return true;
        }
        catch (Exception e) when (e is GatewayUnavailableException or HttpRequestException or System.Text.Json.JsonException
            || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            LogSyncFailed(_logger, _server, e.Message);
            foreach (var unsent in release)
            {
                _released.Enqueue(unsent);
            }
            return false;
        }
    }

    private async Task<TResponse> SendAsync<TRequest, TResponse>(string path, TRequest body, JsonTypeInfo<TRequest> requestType, JsonTypeInfo<TResponse> responseType, CancellationToken cancellationToken)
    {
        using var response = await CallAsync(HttpMethod.Post, path, JsonContent.Create(body, requestType), cancellationToken).ConfigureAwait(false);
        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadFromJsonAsync(responseType, cancellationToken).ConfigureAwait(false)
            ?? throw new GatewayUnavailableException($"The server at {_server} answered {path} with an empty body.");
    }

    private async Task<HttpResponseMessage> CallAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        try
        {
            return await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new GatewayUnavailableException($"The gateway cannot reach the server at {_server}: {e.Message}");
        }
    }

    private async Task ThrowIfFailedAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }
        var detail = "";
        try
        {
            if (await response.Content.ReadFromJsonAsync(ProtocolJsonContext.Default.ErrorResponse, cancellationToken).ConfigureAwait(false) is { } error)
            {
                detail = ": " + error.Message;
            }
        }
        catch (System.Text.Json.JsonException)
        {
        }
        throw new GatewayUnavailableException(response.StatusCode switch
        {
            HttpStatusCode.Unauthorized => $"The server at {_server} refused the gateway's token: it is malformed, unknown or revoked.",
            HttpStatusCode.Forbidden => $"The server at {_server} refused the gateway's token: it is not a gateway token. Make one with `ferry token create --kind gateway NAME`.",
            _ => $"The server at {_server} answered {(int)response.StatusCode}{detail}",
        });
    }

    /// <summary>Stops the lease loop and releases every slot still held, so a stopped gateway frees them at once.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await SyncOnceAsync(renew: false, releaseHeld: true, limit.Token).ConfigureAwait(false);
        _http.Dispose();
        _stop.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The lease {LeaseId} lapsed at the server before its request ended; its slot was freed there")]
    private static partial void LogLeaseLapsed(ILogger logger, string leaseId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Renewing and releasing leases at {Server} failed: {Detail}")]
    private static partial void LogSyncFailed(ILogger logger, Uri server, string detail);
}

/// <summary>The server a standalone gateway serves is unreachable, or refuses it; the message says which.</summary>
internal sealed class GatewayUnavailableException(string message) : Exception(message);
