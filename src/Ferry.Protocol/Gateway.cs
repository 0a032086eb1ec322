namespace Ferry.Protocol;

/// <summary>
/// A web endpoint as a standalone gateway (<c>ferry gateway</c>) needs it to route, authenticate and time out a
/// request. The gateway caches it briefly; <see cref="AcquireSlotRequest.AppId"/> tells the server which one it used.
/// </summary>
/// <param name="AppId">The app whose containers serve the label now.</param>
/// <param name="PoolId">The function's pool, for the app's logs.</param>
/// <param name="Spec">The endpoint: label, auth requirement, request timeout.</param>
public sealed record GatewayRouteInfo(string AppId, string PoolId, WebEndpointSpec Spec);

/// <summary>Asks for a slot in a ready container of a label's endpoint, waiting up to <paramref name="WaitSeconds"/> for one.</summary>
/// <param name="GatewayId">The asking gateway process, as its leases name it.</param>
/// <param name="Label">The endpoint's label.</param>
/// <param name="AppId">The app the gateway resolved the label to; the server refuses a slot of another app (the label moved).</param>
/// <param name="WaitSeconds">How long to wait for a cold start or a free slot; the wait counts as backlog for the autoscaler.</param>
/// <param name="Release">
/// Leases the gateway has finished with and not yet released: freed before the slot is sought, so a request that follows
/// another at once reuses its container instead of waiting for the release to travel on its own and a second cold start.
/// </param>
public sealed record AcquireSlotRequest(string GatewayId, string Label, string AppId, double WaitSeconds, IReadOnlyList<string>? Release = null);

/// <summary>
/// A leased slot (<paramref name="LeaseId"/> and <paramref name="Destination"/>), or why there is none. A lease lapses
/// <paramref name="LeaseSeconds"/> after it was granted or last renewed, and the slot frees.
/// </summary>
/// <param name="LeaseId">The lease to renew and release; null when no slot was granted.</param>
/// <param name="ContainerId">The container that holds the slot.</param>
/// <param name="Destination">The container's base URL, where the gateway forwards the request.</param>
/// <param name="LeaseSeconds">How long the lease lasts unrenewed.</param>
/// <param name="Failure">Why no slot was granted, for the 503 the gateway answers.</param>
/// <param name="RouteChanged">True when the label now belongs to another app (or to none): resolve it again.</param>
public sealed record AcquireSlotResponse(
    string? LeaseId, string? ContainerId, string? Destination, double LeaseSeconds, string? Failure = null, bool RouteChanged = false);

/// <summary>A line a gateway writes to an app's logs, such as a request that failed at the gateway.</summary>
/// <param name="AppId">The app.</param>
/// <param name="PoolId">The function's pool.</param>
/// <param name="ContainerId">The container concerned, if any.</param>
/// <param name="Text">The line.</param>
public sealed record GatewayLogLine(string AppId, string PoolId, string? ContainerId, string Text);

/// <summary>
/// One exchange of a gateway's lease loop: the leases it still holds (renewed), those whose requests ended (released),
/// and log lines. An empty one checks that the server accepts the gateway's token.
/// </summary>
/// <param name="GatewayId">The gateway process.</param>
/// <param name="Renew">Leases whose requests are still in flight.</param>
/// <param name="Release">Leases whose requests ended; their slots free at once.</param>
/// <param name="Logs">Lines for apps' logs.</param>
public sealed record GatewaySyncRequest(string GatewayId, IReadOnlyList<string> Renew, IReadOnlyList<string> Release, IReadOnlyList<GatewayLogLine>? Logs = null);

/// <summary>The answer to a <see cref="GatewaySyncRequest"/>.</summary>
/// <param name="Unknown">Renewed leases the server no longer holds (they lapsed): their slots were already freed.</param>
/// <param name="LeaseSeconds">How long a lease lasts unrenewed; a gateway renews well within it.</param>
public sealed record GatewaySyncResponse(IReadOnlyList<string> Unknown, double LeaseSeconds);

/// <summary>Asks whether a caller's token is a live proxy token.</summary>
/// <param name="TokenId">The token's id.</param>
/// <param name="Secret">The token's secret.</param>
public sealed record ProxyTokenCheck(string TokenId, string Secret);

/// <summary>Whether a <see cref="ProxyTokenCheck"/> names a live proxy token.</summary>
/// <param name="Valid">True for a live proxy token; false for a missing, revoked or other kind of token.</param>
public sealed record ProxyTokenResult(bool Valid);
