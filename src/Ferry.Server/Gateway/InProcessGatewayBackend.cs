using Ferry.Protocol;
using Ferry.Server.Logs;
using Ferry.Server.Scheduling;
using Ferry.Server.Security;

namespace Ferry.Server.Gateway;

/// <summary>The gateway inside <c>ferry server</c>: routes and slots straight from the scheduler, tokens from the registry.</summary>
internal sealed class InProcessGatewayBackend(Scheduler scheduler, TokenRegistry tokens, LogHub logs) : IGatewayBackend
{
    public ValueTask<GatewayRoute?> FindRouteAsync(string label, CancellationToken cancellationToken) =>
        new(scheduler.FindWebRoute(label));

    public ValueTask<GatewaySlot> AcquireAsync(GatewayRoute route, TimeSpan wait, CancellationToken cancellationToken)
    {
        var pending = scheduler.AcquireWebAsync(((WebRoute)route).Pool, wait, cancellationToken);
        // A free slot is taken synchronously, and converted without an allocation: every warm request's path.
#pragma warning disable VSTHRD103 // Result of a ValueTask that completed successfully: it does not block.
        return pending.IsCompletedSuccessfully ? new(Slot(pending.Result)) : AwaitAsync(pending);
#pragma warning restore VSTHRD103

        static async ValueTask<GatewaySlot> AwaitAsync(ValueTask<WebLease> pending) => Slot(await pending.ConfigureAwait(false));
    }

    private static GatewaySlot Slot(WebLease lease) => new(lease.Container, lease.Destination, lease.Container?.Id, lease.Failure);

    public void Release(in GatewaySlot slot) => scheduler.ReleaseWeb((ContainerState)slot.Holder!);

    public ValueTask<bool> IsProxyTokenAsync(string tokenId, string secret, CancellationToken cancellationToken) =>
        new(tokens.Authenticate(tokenId, secret) is { Kind: TokenKinds.Proxy });

    public void Log(GatewayRoute route, string? containerId, string text) => logs.System(route.AppId, route.PoolId, containerId, text);
}
