using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using static Ferry.Tests.Scheduling.PoolFixtures;

namespace Ferry.Tests.Scheduling;

/// <summary>
/// Which containers start for throughput: those a map's inputs, or a backlog long enough to wait in the store, start,
/// unless the pool's inputs are known to be long; a call's container keeps the quick start.
/// </summary>
public sealed class PoolScalerThroughputTests
{
    private static readonly FunctionSettings Defaults = new();

    private static void Queue(PoolState pool, string kind, int count = 1)
    {
        var call = new CallState(new CallRecord("fc-" + kind, "ap-1", "f", pool.PoolId, kind, DateTimeOffset.UnixEpoch, true, null), pool);
        for (var i = 0; i < count; i++)
        {
            pool.Ready.AddLast(new InputState(pool.Ready.Count + 1, call, i, null, null));
        }
    }

    [Fact]
    public void A_map_input_starts_a_container_for_throughput()
    {
        var pool = Pool(Defaults);
        Queue(pool, CallKinds.Map, 200);

        PoolScaler.StartsForThroughput(pool).Should().BeTrue();
    }

    [Theory]
    [InlineData(CallKinds.Sync)]
    [InlineData(CallKinds.Spawn)]
    [InlineData(CallKinds.Stream)]
    public void A_call_starts_a_container_that_keeps_the_quick_start(string kind)
    {
        var pool = Pool(Defaults);
        Queue(pool, kind);
        Queue(pool, CallKinds.Map, 50);

        PoolScaler.StartsForThroughput(pool).Should().BeFalse("the input the new container serves first is a call's");
    }

    [Fact]
    public void An_empty_pool_starts_its_min_containers_with_the_quick_start()
    {
        PoolScaler.StartsForThroughput(Pool(Defaults)).Should().BeFalse();
    }

    [Fact]
    public void A_backlog_that_waits_in_the_store_starts_containers_for_throughput_whatever_its_calls()
    {
        var pool = Pool(Defaults);
        Queue(pool, CallKinds.Spawn);
        var spawned = pool.Ready.First!.Value.Call;
        pool.Stored.Add(spawned, [101, 102, 103]);

        PoolScaler.StartsForThroughput(pool).Should().BeTrue();
    }

    [Fact]
    public void A_map_of_inputs_known_to_be_long_keeps_the_quick_start()
    {
        var pool = Pool(Defaults);
        Queue(pool, CallKinds.Map, 10);
        PoolScaler.RecordServiceTime(pool, TimeSpan.FromMilliseconds(2));
        PoolScaler.StartsForThroughput(pool).Should().BeTrue("its inputs are short so far");

        pool.ServiceTime = PoolScaler.ShortInput;

        PoolScaler.StartsForThroughput(pool).Should().BeFalse("compiling once more is small beside inputs this long");
    }
}
