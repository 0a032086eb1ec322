using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using static Ferry.Tests.Scheduling.PoolFixtures;

namespace Ferry.Tests.Scheduling;

/// <summary>
/// Which containers start for throughput: those a large map's inputs, or a backlog long enough to wait in the store,
/// start, unless the pool's inputs are known to be long; a call's or a small map's container keeps the quick start.
/// </summary>
public sealed class PoolScalerThroughputTests
{
    private static readonly FunctionSettings Defaults = new();

    private static CallState Queue(PoolState pool, string kind, int count = 1, bool final = true)
    {
        var call = new CallState(new CallRecord("fc-" + kind, "ap-1", "f", pool.PoolId, kind, DateTimeOffset.UnixEpoch, final, null), pool) { Final = final };
        for (var i = 0; i < count; i++)
        {
            call.Indices.Add(i);
            pool.Ready.AddLast(new InputState(pool.Ready.Count + 1, call, i, null, null));
        }
        return call;
    }

    [Fact]
    public void A_map_of_many_inputs_starts_its_containers_for_throughput_while_some_remain()
    {
        var pool = Pool(Defaults);
        Queue(pool, CallKinds.Map, PoolScaler.ManyInputs);
        PoolScaler.StartsForThroughput(pool).Should().BeTrue();

        while (pool.Ready.Count > 1)
        {
            pool.Ready.RemoveFirst();
        }

        PoolScaler.StartsForThroughput(pool).Should().BeTrue("the map is as large as it was when it began: its last containers start alike");
    }

    [Fact]
    public void A_small_map_keeps_the_quick_start_unless_its_inputs_are_still_arriving()
    {
        var pool = Pool(Defaults);
        var map = Queue(pool, CallKinds.Map, PoolScaler.ManyInputs - 1);
        PoolScaler.StartsForThroughput(pool).Should().BeFalse();

        map.Final = false;

        PoolScaler.StartsForThroughput(pool).Should().BeTrue("a map still receiving inputs has sent a full batch at least");
    }

    [Theory]
    [InlineData(CallKinds.Sync)]
    [InlineData(CallKinds.Spawn)]
    [InlineData(CallKinds.Stream)]
    public void A_call_starts_a_container_that_keeps_the_quick_start(string kind)
    {
        var pool = Pool(Defaults);
        Queue(pool, kind);
        Queue(pool, CallKinds.Map, PoolScaler.ManyInputs);

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
        Queue(pool, CallKinds.Map, PoolScaler.ManyInputs);
        PoolScaler.RecordServiceTime(pool, TimeSpan.FromMilliseconds(2));
        PoolScaler.StartsForThroughput(pool).Should().BeTrue("its inputs are short so far");

        pool.ServiceTime = PoolScaler.ShortInput;

        PoolScaler.StartsForThroughput(pool).Should().BeFalse("compiling once more is small beside inputs this long");
    }
}
