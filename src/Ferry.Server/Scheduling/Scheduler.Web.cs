using Ferry.Protocol;

namespace Ferry.Server.Scheduling;

/// <summary>A web endpoint the gateway found by label: the pool whose containers serve it, and how.</summary>
internal sealed record WebRoute(PoolState Pool, WebEndpointSpec Spec, string AppId) : Gateway.GatewayRoute(Spec, AppId, Pool.PoolId);

/// <summary>What the gateway gets when it asks for a container: one with a free slot, or why there is none.</summary>
internal readonly record struct WebLease(ContainerState? Container, string? Destination, string? Failure)
{
    public bool Acquired => Container is not null;
}

// The web gateway's side of the scheduler: labels, leases of container slots, and the load they put on the autoscaler.
internal sealed partial class Scheduler
{
    private readonly Dictionary<string, WebRoute> _webLabels = new(StringComparer.Ordinal);

    /// <summary>The gateway's base URL, for the URLs apps list; null when no gateway runs in this server.</summary>
    public Uri? GatewayUrl { get; set; }

    /// <summary>The newest app to declare a label takes it; a stopped app's label answers 404.</summary>
    private void RouteWebLocked(string label, PoolState pool) => _webLabels[label] = new WebRoute(pool, pool.Settings.Web!, pool.App.AppId);

    private List<string>? WebUrlsLocked(AppState app)
    {
        if (GatewayUrl is not { } gateway || app.Stopped || app.Record.Definition is not { } definition)
        {
            return null;
        }
        var labels = definition.Functions.Select(f => f.Settings.Web?.Label).OfType<string>().ToList();
        return labels.Count == 0 ? null : [.. labels.Select(label => WebUrl(gateway, label))];
    }

    /// <summary>The host-label URL of an endpoint: <c>http://&lt;label&gt;.localhost:&lt;port&gt;/</c> for a gateway on loopback.</summary>
    public static string WebUrl(Uri gateway, string label)
    {
        var host = gateway.IsLoopback ? "localhost" : gateway.Host;
        return $"{gateway.Scheme}://{label}.{host}:{gateway.Port}/";
    }

    public WebRoute? FindWebRoute(string label)
    {
        lock (_gate)
        {
            if (!_webLabels.TryGetValue(label, out var route))
            {
                return null;
            }
            if (route.Pool.App.Stopped || !_apps.ContainsKey(route.AppId))
            {
                _webLabels.Remove(label);
                return null;
            }
            return route;
        }
    }

    /// <summary>
    /// A slot in a ready container of the pool: the one with the fewest requests in flight below its MaxInputs. With
    /// none free, the request counts as waiting load (so the autoscaler starts containers) until one frees up, the
    /// wait ends, or the app stops. A free slot is taken without allocating: this is every warm request's path.
    /// </summary>
    public ValueTask<WebLease> AcquireWebAsync(PoolState pool, TimeSpan wait, CancellationToken cancellationToken)
    {
        int startFailures;
        lock (_gate)
        {
            startFailures = pool.StartFailed.Count;
            if (TryLeaseLocked(pool) is { } lease)
            {
                return new ValueTask<WebLease>(lease);
            }
            pool.WebWaiting++;
            pool.LastActive = clock.GetUtcNow();
            ScaleLocked(pool, clock.GetUtcNow());
        }
        return new ValueTask<WebLease>(WaitForWebSlotAsync(pool, startFailures, wait, cancellationToken));
    }

    private async Task<WebLease> WaitForWebSlotAsync(PoolState pool, int startFailures, TimeSpan wait, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(wait);
        try
        {
            while (true)
            {
                Task changed;
                lock (_gate)
                {
                    if (pool.App.Stopped)
                    {
                        return new WebLease(null, null, $"The app '{pool.App.Record.Name}' stopped.");
                    }
                    if (TryLeaseLocked(pool) is { } lease)
                    {
                        return lease;
                    }
                    if (pool.StartFailed.Count != startFailures)
                    {
                        return new WebLease(null, null, pool.StartFailed.Message);
                    }
                    changed = _changes.Next;
                }
                try
                {
                    await changed.WaitAsync(deadline.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    lock (_gate)
                    {
                        var why = pool.LastExit is { } exit ? $" The last container exited: {exit}" : "";
                        var starting = pool.Containers.Values.Count(c => c.Status == ContainerStatus.Starting);
                        return new WebLease(null, null,
                            $"No container of '{pool.Function.Name}' had a free slot within {wait.TotalSeconds:0.###} s ({pool.LiveContainers} live, {starting} starting).{why}");
                    }
                }
            }
        }
        finally
        {
            lock (_gate)
            {
                pool.WebWaiting--;
            }
        }
    }

    private WebLease? TryLeaseLocked(PoolState pool)
    {
        ContainerState? best = null;
        foreach (var container in pool.Containers.Values)
        {
            if (container.Status == ContainerStatus.Ready && container.WebAddress is not null && container.WebInFlight < container.MaxInputs
                && (best is null || container.WebInFlight < best.WebInFlight))
            {
                best = container;
            }
        }
        if (best is null)
        {
            return null;
        }
        best.WebInFlight++;
        pool.LastActive = clock.GetUtcNow();
        return new WebLease(best, best.WebDestination, null);
    }

    /// <summary>A forwarded request ended: its slot frees, and a waiting request may take it.</summary>
    public void ReleaseWeb(ContainerState container)
    {
        lock (_gate)
        {
            container.WebInFlight--;
            var idle = container.IsIdle;
            if (idle)
            {
                container.IdleSince = clock.GetUtcNow();
            }
            // A waiting request may take the slot; a container that fell idle is a change its observers wait for.
            if (container.Pool.WebWaiting > 0 || idle)
            {
                PulseLocked();
            }
        }
    }
}
