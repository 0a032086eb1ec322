using System.Collections.Concurrent;
using Ferry.Server.Scheduling;

namespace Ferry.Server.Gateway;

/// <summary>
/// The container slots standalone gateways hold, each under a lease that lapses <see cref="Duration"/> after it was
/// granted or last renewed. A gateway renews the leases of its requests in flight and releases each when its request
/// ends; when a gateway dies, its leases lapse and a sweep frees their slots, so no slot stays taken forever.
/// </summary>
internal sealed class GatewayLeases : IDisposable
{
    private readonly ConcurrentDictionary<string, Lease> _leases = new(StringComparer.Ordinal);
    private readonly Action<ContainerState> _free;
    private readonly TimeProvider _clock;
    private readonly ITimer _sweeper;

    /// <param name="free">Frees a container slot: the scheduler's <see cref="Scheduler.ReleaseWeb"/>.</param>
    /// <param name="duration">How long a lease lasts unrenewed.</param>
    /// <param name="clock">The clock leases lapse by, and the sweep's timer.</param>
    public GatewayLeases(Action<ContainerState> free, TimeSpan duration, TimeProvider clock)
    {
        if (duration <= TimeSpan.Zero)
        {
            throw new ArgumentException($"ServerOptions.GatewayLeaseDuration must be positive; it was {duration}.", nameof(duration));
        }
        _free = free;
        _clock = clock;
        Duration = duration;
        // A lapsed slot frees at most a quarter of the lease (and at most a second) after it lapsed.
        var sweep = TimeSpan.FromTicks(Math.Min(Duration.Ticks / 4, TimeSpan.TicksPerSecond));
        _sweeper = clock.CreateTimer(_ => Sweep(), null, sweep, sweep);
    }

    /// <summary>How long a lease lasts unrenewed.</summary>
    public TimeSpan Duration { get; }

    /// <summary>How many leases are held.</summary>
    public int Count => _leases.Count;

    /// <summary>Takes over a slot the scheduler granted, under a new lease.</summary>
    public string Grant(ContainerState container, string gatewayId)
    {
        var id = Ids.New("gl");
        _leases[id] = new Lease(container, gatewayId, _clock.GetUtcNow() + Duration);
        return id;
    }

    /// <summary>Extends a lease; false when it lapsed already (or is another gateway's).</summary>
    public bool Renew(string leaseId, string gatewayId)
    {
        while (_leases.TryGetValue(leaseId, out var lease) && lease.GatewayId == gatewayId)
        {
            if (_leases.TryUpdate(leaseId, lease with { Expires = _clock.GetUtcNow() + Duration }, lease))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Frees a lease's slot; a lapsed or unknown lease is ignored (its slot was freed when it lapsed).</summary>
    public void Release(string leaseId, string gatewayId)
    {
        if (_leases.TryGetValue(leaseId, out var lease) && lease.GatewayId == gatewayId
            && _leases.TryRemove(new KeyValuePair<string, Lease>(leaseId, lease)))
        {
            _free(lease.Container);
        }
    }

    /// <summary>Frees the slots of lapsed leases; returns how many.</summary>
    internal int Sweep()
    {
        var now = _clock.GetUtcNow();
        var freed = 0;
        foreach (var entry in _leases)
        {
            // Removed only as it was seen lapsed: a renewal in between replaced the value, and the removal fails.
            if (entry.Value.Expires <= now && _leases.TryRemove(entry))
            {
                _free(entry.Value.Container);
                freed++;
            }
        }
        return freed;
    }

    public void Dispose() => _sweeper.Dispose();

    private sealed record Lease(ContainerState Container, string GatewayId, DateTimeOffset Expires);
}
