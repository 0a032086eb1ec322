using Microsoft.Data.Sqlite;

namespace Ferry.Server.Storage;

/// <summary>Pool leases and the replica registry on SQLite: one server per file, so they only ever name that server.</summary>
internal sealed partial class SqliteStore
{
    private const string UpsertLease = """
        INSERT INTO leases(pool_id, replica_id, epoch, expires_at) VALUES($pool, $replica, 1, $expires)
        ON CONFLICT(pool_id) DO UPDATE SET
            epoch = CASE WHEN leases.replica_id = excluded.replica_id THEN leases.epoch ELSE leases.epoch + 1 END,
            replica_id = excluded.replica_id, expires_at = excluded.expires_at
        WHERE leases.replica_id = excluded.replica_id OR leases.expires_at <= $now
        """;

    /// <summary>Throws <see cref="LeaseLostException"/> unless the fence's lease is still its replica's with its epoch.</summary>
    private static void CheckFence(SqliteConnection connection, LeaseFence? fence)
    {
        if (fence is null)
        {
            return;
        }
        using var check = Command(connection, "SELECT 1 FROM leases WHERE pool_id = $pool AND replica_id = $replica AND epoch = $epoch",
            ("$pool", fence.PoolId), ("$replica", fence.ReplicaId), ("$epoch", fence.Epoch));
        if (check.ExecuteScalar() is null)
        {
            throw new LeaseLostException($"The lease of '{fence.PoolId}' is no longer held by {fence.ReplicaId} with epoch {fence.Epoch}.");
        }
    }

    public Task<PoolLease> TryAcquireLeaseAsync(string poolId, string replicaId, DateTimeOffset now, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        PoolLease? lease = null;
        return WriteAsync(c =>
        {
            using (var upsert = Command(c, UpsertLease, ("$pool", poolId), ("$replica", replicaId), ("$expires", Ms(expiresAt)), ("$now", Ms(now))))
            {
                upsert.ExecuteNonQuery();
            }
            using var read = Command(c, "SELECT replica_id, epoch, expires_at FROM leases WHERE pool_id = $pool", ("$pool", poolId));
            using var reader = read.ExecuteReader();
            reader.Read();
            lease = new PoolLease(poolId, reader.GetString(0), reader.GetInt64(1), Time(reader.GetInt64(2)));
        }).ContinueWith(task =>
        {
            task.GetAwaiter().GetResult();
            return lease!;
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public Task<bool> RenewLeaseAsync(string poolId, string replicaId, long epoch, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        var renewed = false;
        return WriteAsync(c =>
        {
            using var update = Command(c, "UPDATE leases SET expires_at = $expires WHERE pool_id = $pool AND replica_id = $replica AND epoch = $epoch",
                ("$expires", Ms(expiresAt)), ("$pool", poolId), ("$replica", replicaId), ("$epoch", epoch));
            renewed = update.ExecuteNonQuery() == 1;
        }).ContinueWith(task =>
        {
            task.GetAwaiter().GetResult();
            return renewed;
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public Task ReleaseLeaseAsync(string poolId, string replicaId, long epoch, DateTimeOffset now, CancellationToken cancellationToken) => WriteAsync(c =>
    {
        using var update = Command(c, "UPDATE leases SET expires_at = $now WHERE pool_id = $pool AND replica_id = $replica AND epoch = $epoch",
            ("$now", Ms(now)), ("$pool", poolId), ("$replica", replicaId), ("$epoch", epoch));
        update.ExecuteNonQuery();
    });

    public async Task<PoolLease?> GetLeaseAsync(string poolId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT replica_id, epoch, expires_at FROM leases WHERE pool_id = $pool";
        command.Parameters.AddWithValue("$pool", poolId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
            ? new PoolLease(poolId, reader.GetString(0), reader.GetInt64(1), Time(reader.GetInt64(2)))
            : null;
    }

    public Task HeartbeatReplicaAsync(ReplicaRecord replica, CancellationToken cancellationToken) => WriteAsync(c =>
    {
        using var upsert = Command(c, """
            INSERT INTO replicas(replica_id, url, heartbeat_at) VALUES($id, $url, $at)
            ON CONFLICT(replica_id) DO UPDATE SET url = excluded.url, heartbeat_at = excluded.heartbeat_at
            """, ("$id", replica.ReplicaId), ("$url", replica.Url), ("$at", Ms(replica.HeartbeatAt)));
        upsert.ExecuteNonQuery();
    });

    public async Task<IReadOnlyList<ReplicaRecord>> ListReplicasAsync(DateTimeOffset since, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT replica_id, url, heartbeat_at FROM replicas WHERE heartbeat_at >= $since ORDER BY replica_id";
        command.Parameters.AddWithValue("$since", Ms(since));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var replicas = new List<ReplicaRecord>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            replicas.Add(new ReplicaRecord(reader.GetString(0), reader.GetString(1), Time(reader.GetInt64(2))));
        }
        return replicas;
    }

    public Task RemoveReplicaAsync(string replicaId, CancellationToken cancellationToken) => WriteAsync(c =>
    {
        using var delete = Command(c, "DELETE FROM replicas WHERE replica_id = $id", ("$id", replicaId));
        delete.ExecuteNonQuery();
    });
}
