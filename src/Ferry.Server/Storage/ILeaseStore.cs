namespace Ferry.Server.Storage;

/// <summary>
/// Who owns a pool: <see cref="ReplicaId"/> until <see cref="ExpiresAt"/>. <see cref="Epoch"/> grows by one each time
/// the pool changes hands and never goes back, so a write fenced by it tells a stale owner from the current one.
/// </summary>
internal sealed record PoolLease(string PoolId, string ReplicaId, long Epoch, DateTimeOffset ExpiresAt);

/// <summary>
/// A write's proof that its server still holds the lease it names: a fenced write commits only if the lease is still
/// the replica's with that epoch, and holds the lease row so the next owner's acquisition waits for it. So once a
/// replica has taken a lease, nothing its predecessor writes under the old epoch lands.
/// </summary>
internal sealed record LeaseFence(string PoolId, string ReplicaId, long Epoch);

/// <summary>A fenced write was refused: its server no longer holds the lease it named.</summary>
internal sealed class LeaseLostException(string message) : Exception(message);

/// <summary>A server replica as registered: where other replicas reach it, and when it last said it was alive.</summary>
internal sealed record ReplicaRecord(string ReplicaId, string Url, DateTimeOffset HeartbeatAt);

/// <summary>
/// Pool leases and the replica registry: what lets several server replicas on one database share the pools, each
/// dispatched by one replica at a time.
/// </summary>
/// <remarks>
/// Every operation is one atomic compare-and-set in the database, issued through the store's writer like any other
/// write. Times are the caller's (its <see cref="TimeProvider"/>), so replicas' clocks must agree to well within a lease's
/// duration. A lease is a promise the holder keeps by itself: it stops dispatching a pool when its own view of the lease
/// has expired, whether or not it could reach the store to renew.
/// </remarks>
internal interface ILeaseStore
{
    /// <summary>
    /// Takes the pool's lease for <paramref name="replicaId"/> until <paramref name="expiresAt"/> if nobody holds it,
    /// its holder's lease expired at or before <paramref name="now"/>, or the replica already holds it (then it is
    /// extended, with the same epoch). A replica that takes it from another, or takes it for the first time, gets the
    /// next epoch. Returns the lease as it stands afterwards: the caller's, or the current holder's when it was refused.
    /// </summary>
    Task<PoolLease> TryAcquireLeaseAsync(string poolId, string replicaId, DateTimeOffset now, DateTimeOffset expiresAt, CancellationToken cancellationToken);

    /// <summary>
    /// Extends a lease the replica holds with <paramref name="epoch"/> to <paramref name="expiresAt"/>. False when the
    /// pool has changed hands since: the replica lost it and must not dispatch it.
    /// </summary>
    Task<bool> RenewLeaseAsync(string poolId, string replicaId, long epoch, DateTimeOffset expiresAt, CancellationToken cancellationToken);

    /// <summary>
    /// Gives a lease up by making it expire at <paramref name="now"/>, so another replica may take the pool at once. The
    /// epoch is kept, so the next holder's is greater. Does nothing if the pool has changed hands since.
    /// </summary>
    Task ReleaseLeaseAsync(string poolId, string replicaId, long epoch, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>The pool's lease, expired or not; null if nobody ever held it.</summary>
    Task<PoolLease?> GetLeaseAsync(string poolId, CancellationToken cancellationToken);

    /// <summary>Registers a replica, or records that it is alive: its URL and heartbeat are replaced.</summary>
    Task HeartbeatReplicaAsync(ReplicaRecord replica, CancellationToken cancellationToken);

    /// <summary>Every registered replica whose last heartbeat is at or after <paramref name="since"/>, by replica id.</summary>
    Task<IReadOnlyList<ReplicaRecord>> ListReplicasAsync(DateTimeOffset since, CancellationToken cancellationToken);

    /// <summary>Removes a replica from the registry, as one that shuts down cleanly does.</summary>
    Task RemoveReplicaAsync(string replicaId, CancellationToken cancellationToken);
}
