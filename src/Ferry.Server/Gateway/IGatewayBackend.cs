using Ferry.Protocol;

namespace Ferry.Server.Gateway;

/// <summary>
/// Where a gateway gets its routes and container slots: the scheduler of the server it runs in
/// (<see cref="InProcessGatewayBackend"/>), or a server it reaches over the API (<see cref="RemoteGatewayBackend"/>,
/// for <c>ferry gateway</c>). <see cref="GatewayHandler"/> forwards the same way with either.
/// </summary>
internal interface IGatewayBackend
{
    /// <summary>The endpoint a label names now, or null when none does.</summary>
    ValueTask<GatewayRoute?> FindRouteAsync(string label, CancellationToken cancellationToken);

    /// <summary>
    /// A slot in a ready container of the route's endpoint, waiting up to <paramref name="wait"/> for a cold start or a
    /// free slot while counting as backlog for the autoscaler.
    /// </summary>
    ValueTask<GatewaySlot> AcquireAsync(GatewayRoute route, TimeSpan wait, CancellationToken cancellationToken);

    /// <summary>The request that held <paramref name="slot"/> ended: the slot frees.</summary>
    void Release(in GatewaySlot slot);

    /// <summary>True when the id and secret are those of a live proxy token.</summary>
    ValueTask<bool> IsProxyTokenAsync(string tokenId, string secret, CancellationToken cancellationToken);

    /// <summary>Writes a line to the app's logs, such as a request that failed at the gateway.</summary>
    void Log(GatewayRoute route, string? containerId, string text);
}

/// <summary>A web endpoint the gateway found by label: the app and pool that serve it, and how.</summary>
internal record GatewayRoute(WebEndpointSpec Spec, string AppId, string PoolId)
{
    /// <summary>The endpoint's request timeout as YARP takes it, built once per route rather than once per request.</summary>
    public Yarp.ReverseProxy.Forwarder.ForwarderRequestConfig Forwarding { get; } = new() { ActivityTimeout = TimeSpan.FromSeconds(Spec.RequestTimeoutSeconds) };
}

/// <summary>
/// A slot the gateway holds for one request (<see cref="Holder"/>: what the backend needs to release it), or why it got
/// none. <see cref="RouteChanged"/> means the label moved to another app since the route was resolved.
/// </summary>
internal readonly record struct GatewaySlot(object? Holder, string? Destination, string? ContainerId, string? Failure, bool RouteChanged = false)
{
    public bool Acquired => Holder is not null;
}
