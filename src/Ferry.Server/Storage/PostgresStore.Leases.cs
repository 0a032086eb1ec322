using Npgsql;

namespace Ferry.Server.Storage;

/// <summary>
/// Pool leases and the replica registry on PostgreSQL. Each operation is one statement whose row lock makes it a
/// compare-and-set: two replicas racing for an expired lease both run the upsert, one after the other, and the second
/// finds it held.
/// </summary>
internal sealed partial class PostgresStore
{
    public Task<PoolLease> TryAcquireLeaseAsync(string poolId, string replicaId, DateTimeOffset now, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        PoolLease? lease = null;
        return WriteAsync(async c =>
        {
            await ExecuteAsync(c, """
                INSERT INTO leases(pool_id, replica_id, epoch, expires_at) VALUES(@pool, @replica, 1, @expires)
                ON CONFLICT(pool_id) DO UPDATE SET
                    epoch = CASE WHEN leases.replica_id = excluded.replica_id THEN leases.epoch ELSE leases.epoch + 1 END,
                    replica_id = excluded.replica_id, expires_at = excluded.expires_at
                WHERE leases.replica_id = excluded.replica_id OR leases.expires_at <= @now
                """, P("pool", poolId), P("replica", replicaId), P("expires", Utc(expiresAt)), P("now", Utc(now))).ConfigureAwait(false);
            await using var read = new NpgsqlCommand("SELECT replica_id, epoch, expires_at FROM leases WHERE pool_id = @pool", c);
            read.Parameters.Add(P("pool", poolId));
            await using var reader = await read.ExecuteReaderAsync().ConfigureAwait(false);
            await reader.ReadAsync().ConfigureAwait(false);
            lease = new PoolLease(poolId, reader.GetString(0), reader.GetInt64(1), Time(reader, 2));
        }, cancellationToken).ContinueWith(task =>
        {
            task.GetAwaiter().GetResult();
            return lease!;
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public Task<bool> RenewLeaseAsync(string poolId, string replicaId, long epoch, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        var renewed = false;
        return WriteAsync(async c =>
        {
            renewed = await ExecuteAsync(c, "UPDATE leases SET expires_at = @expires WHERE pool_id = @pool AND replica_id = @replica AND epoch = @epoch",
                P("expires", Utc(expiresAt)), P("pool", poolId), P("replica", replicaId), P("epoch", epoch)).ConfigureAwait(false) == 1;
        }, cancellationToken).ContinueWith(task =>
        {
            task.GetAwaiter().GetResult();
            return renewed;
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public Task ReleaseLeaseAsync(string poolId, string replicaId, long epoch, DateTimeOffset now, CancellationToken cancellationToken) => WriteAsync(c => ExecuteAsync(c,
        "UPDATE leases SET expires_at = @now WHERE pool_id = @pool AND replica_id = @replica AND epoch = @epoch",
        P("now", Utc(now)), P("pool", poolId), P("replica", replicaId), P("epoch", epoch)), cancellationToken);

    public async Task<PoolLease?> GetLeaseAsync(string poolId, CancellationToken cancellationToken) => (await QueryAsync(
        "SELECT replica_id, epoch, expires_at FROM leases WHERE pool_id = @pool", [P("pool", poolId)],
        r => new PoolLease(poolId, r.GetString(0), r.GetInt64(1), Time(r, 2)), cancellationToken).ConfigureAwait(false)).SingleOrDefault();

    public Task HeartbeatReplicaAsync(ReplicaRecord replica, CancellationToken cancellationToken) => WriteAsync(c => ExecuteAsync(c, """
        INSERT INTO replicas(replica_id, url, heartbeat_at) VALUES(@id, @url, @at)
        ON CONFLICT(replica_id) DO UPDATE SET url = excluded.url, heartbeat_at = excluded.heartbeat_at
        """, P("id", replica.ReplicaId), P("url", replica.Url), P("at", Utc(replica.HeartbeatAt))), cancellationToken);

    public async Task<IReadOnlyList<ReplicaRecord>> ListReplicasAsync(DateTimeOffset since, CancellationToken cancellationToken) => await QueryAsync(
        "SELECT replica_id, url, heartbeat_at FROM replicas WHERE heartbeat_at >= @since ORDER BY replica_id", [P("since", Utc(since))],
        r => new ReplicaRecord(r.GetString(0), r.GetString(1), Time(r, 2)), cancellationToken).ConfigureAwait(false);

    public Task RemoveReplicaAsync(string replicaId, CancellationToken cancellationToken) => WriteAsync(c => ExecuteAsync(c,
        "DELETE FROM replicas WHERE replica_id = @id", P("id", replicaId)), cancellationToken);
}
