using Npgsql;

namespace Ferry.Server.Storage;

/// <summary>
/// Pool leases, fences and the replica registry on PostgreSQL. Each lease operation is one statement whose row lock
/// makes it a compare-and-set: two replicas racing for an expired lease both run the upsert, one after the other, and
/// the second finds it held.
/// </summary>
internal sealed partial class PostgresStore
{
    /// <summary>The SQLSTATE <c>ferry_fence</c> raises when a fenced write's lease has changed hands.</summary>
    private const string FenceFailed = "FL001";

    private static Task CheckFenceAsync(NpgsqlConnection connection, LeaseFence? fence) => fence is null
        ? Task.CompletedTask
        : ExecuteAsync(connection, "SELECT ferry_fence(@lease, @replica, @epoch)", P("lease", fence.PoolId), P("replica", fence.ReplicaId), P("epoch", fence.Epoch));

    // Lease operations run on a connection of their own, not through the writer: a renewal must not wait behind a
    // group of queued writes, or a busy owner would lose its lease. Each is one autocommitted statement.

    public async Task<PoolLease> TryAcquireLeaseAsync(string poolId, string replicaId, DateTimeOffset now, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (var upsert = new NpgsqlCommand("""
            INSERT INTO leases(pool_id, replica_id, epoch, expires_at) VALUES(@pool, @replica, 1, @expires)
            ON CONFLICT(pool_id) DO UPDATE SET
                epoch = CASE WHEN leases.replica_id = excluded.replica_id THEN leases.epoch ELSE leases.epoch + 1 END,
                replica_id = excluded.replica_id, expires_at = excluded.expires_at
            WHERE leases.replica_id = excluded.replica_id OR leases.expires_at <= @now
            """, connection))
        {
            upsert.Parameters.AddRange(new NpgsqlParameter[] { P("pool", poolId), P("replica", replicaId), P("expires", Utc(expiresAt)), P("now", Utc(now)) });
            await upsert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        // A statement of its own: it sees the row as the upsert left it, or as the replica that won a race did.
        await using var read = new NpgsqlCommand("SELECT replica_id, epoch, expires_at FROM leases WHERE pool_id = @pool", connection);
        read.Parameters.Add(P("pool", poolId));
        await using var reader = await read.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return new PoolLease(poolId, reader.GetString(0), reader.GetInt64(1), Time(reader, 2));
    }

    private async Task<int> ExecuteDirectAsync(string sql, NpgsqlParameter[] parameters, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand(sql);
        command.Parameters.AddRange(parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> RenewLeaseAsync(string poolId, string replicaId, long epoch, DateTimeOffset expiresAt, CancellationToken cancellationToken) =>
        await ExecuteDirectAsync("UPDATE leases SET expires_at = @expires WHERE pool_id = @pool AND replica_id = @replica AND epoch = @epoch",
            [P("expires", Utc(expiresAt)), P("pool", poolId), P("replica", replicaId), P("epoch", epoch)], cancellationToken).ConfigureAwait(false) == 1;

    public Task ReleaseLeaseAsync(string poolId, string replicaId, long epoch, DateTimeOffset now, CancellationToken cancellationToken) => ExecuteDirectAsync(
        "UPDATE leases SET expires_at = @now WHERE pool_id = @pool AND replica_id = @replica AND epoch = @epoch",
        [P("now", Utc(now)), P("pool", poolId), P("replica", replicaId), P("epoch", epoch)], cancellationToken);

    public async Task<PoolLease?> GetLeaseAsync(string poolId, CancellationToken cancellationToken) => (await QueryAsync(
        "SELECT replica_id, epoch, expires_at FROM leases WHERE pool_id = @pool", [P("pool", poolId)],
        r => new PoolLease(poolId, r.GetString(0), r.GetInt64(1), Time(r, 2)), cancellationToken).ConfigureAwait(false)).SingleOrDefault();

    public Task HeartbeatReplicaAsync(ReplicaRecord replica, CancellationToken cancellationToken) => ExecuteDirectAsync("""
        INSERT INTO replicas(replica_id, url, heartbeat_at) VALUES(@id, @url, @at)
        ON CONFLICT(replica_id) DO UPDATE SET url = excluded.url, heartbeat_at = excluded.heartbeat_at
        """, [P("id", replica.ReplicaId), P("url", replica.Url), P("at", Utc(replica.HeartbeatAt))], cancellationToken);

    public async Task<IReadOnlyList<ReplicaRecord>> ListReplicasAsync(DateTimeOffset since, CancellationToken cancellationToken) => await QueryAsync(
        "SELECT replica_id, url, heartbeat_at FROM replicas WHERE heartbeat_at >= @since ORDER BY replica_id", [P("since", Utc(since))],
        r => new ReplicaRecord(r.GetString(0), r.GetString(1), Time(r, 2)), cancellationToken).ConfigureAwait(false);

    public Task RemoveReplicaAsync(string replicaId, CancellationToken cancellationToken) => ExecuteDirectAsync(
        "DELETE FROM replicas WHERE replica_id = @id", [P("id", replicaId)], cancellationToken);
}
