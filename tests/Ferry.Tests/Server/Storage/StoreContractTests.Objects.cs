using FluentAssertions;
using Ferry.Server.Storage;

namespace Ferry.Tests.Storage;

/// <summary>IObjectStore: secrets, dicts and queues, on every store.</summary>
public abstract partial class StoreContractTests
{
    private IObjectStore Objects => Store;

    private static readonly TimeSpan Ttl = TimeSpan.FromDays(7);

    [StoreFact]
    public async Task SaveSecret_WithoutReplace_KeepsTheFirstAndReplaceOverwrites_AndSurvivesReopen()
    {
        var first = new SecretRecord("api", ["KEY", "OTHER"], [1, 2, 3], false, T0, T0);
        (await Objects.SaveSecretAsync(first, replace: false, default)).Should().BeTrue();
        (await Objects.SaveSecretAsync(first with { Sealed = [9] }, replace: false, default)).Should().BeFalse();
        (await Objects.SaveSecretAsync(new SecretRecord("se-1", ["K"], [4], true, T0, T0), replace: false, default)).Should().BeTrue();
        (await Objects.SaveSecretAsync(first with { Keys = ["KEY"], Sealed = [7, 7], UpdatedAt = T0.AddHours(1) }, replace: true, default)).Should().BeTrue();
        await ReopenAsync();

        var secrets = await Objects.ListSecretsAsync(default);
        secrets.Select(s => (s.Name, string.Join(",", s.Keys), Convert.ToHexString(s.Sealed), s.Ephemeral, s.CreatedAt, s.UpdatedAt)).Should().Equal(
            ("api", "KEY", "0707", false, T0, T0.AddHours(1)),
            ("se-1", "K", "04", true, T0, T0));
        (await Objects.DeleteSecretAsync("api", default)).Should().BeTrue();
        (await Objects.DeleteSecretAsync("api", default)).Should().BeFalse();
        (await Objects.ListSecretsAsync(default)).Select(s => s.Name).Should().Equal("se-1");
    }

    [StoreFact]
    public async Task Objects_CreateListDelete_KeepKindsApartAndDeleteTheirContents()
    {
        (await Objects.CreateObjectAsync(ObjectKinds.Dict, "b", T0, default)).Should().BeTrue();
        (await Objects.CreateObjectAsync(ObjectKinds.Dict, "b", T0.AddDays(1), default)).Should().BeFalse();
        (await Objects.CreateObjectAsync(ObjectKinds.Dict, "a", T0, default)).Should().BeTrue();
        (await Objects.CreateObjectAsync(ObjectKinds.Queue, "b", T0, default)).Should().BeTrue();
        await Objects.PutDictEntriesAsync("b", [("\"k\"", "1")], false, T0, T0 - Ttl, default);
        await Objects.PutQueueItemsAsync("b", "", ["1"], TimeSpan.FromDays(1), T0, 10, 10, default);

        (await Objects.ListObjectsAsync(ObjectKinds.Dict, default)).Should().Equal(new ObjectRecord("a", T0), new ObjectRecord("b", T0));
        (await Objects.GetObjectAsync(ObjectKinds.Queue, "a", default)).Should().BeNull();
        (await Objects.DeleteObjectAsync(ObjectKinds.Dict, "b", default)).Should().BeTrue();
        (await Objects.DeleteObjectAsync(ObjectKinds.Dict, "b", default)).Should().BeFalse();
        (await Objects.CountDictEntriesAsync("b", T0 - Ttl, default)).Should().Be(0);
        (await Objects.CountQueueItemsAsync("b", null, T0, default)).Should().Be(1, "the queue of the same name is another object");
    }

    [StoreFact]
    public async Task PutDictEntries_SkipIfExists_KeepsALiveEntryButReplacesAnExpiredOne()
    {
        await Objects.CreateObjectAsync(ObjectKinds.Dict, "d", T0, default);
        (await Objects.PutDictEntriesAsync("d", [("\"a\"", "1"), ("\"b\"", "2")], false, T0, T0 - Ttl, default)).Should().Be(2);
        var later = T0 + Ttl;
        (await Objects.PutDictEntriesAsync("d", [("\"a\"", "10")], true, later - TimeSpan.FromMilliseconds(1), later - TimeSpan.FromMilliseconds(1) - Ttl, default)).Should().Be(0);
        (await Objects.PutDictEntriesAsync("d", [("\"b\"", "20")], true, later, later - Ttl, default)).Should().Be(1, "an entry expires exactly its TTL after its last touch");

        (await Objects.GetDictEntryAsync("d", "\"a\"", T0 - Ttl, default))!.Value.Should().Be("1");
        (await Objects.GetDictEntryAsync("d", "\"a\"", later - Ttl, default)).Should().BeNull();
        (await Objects.GetDictEntryAsync("d", "\"b\"", later - Ttl, default)).Should().Be(new DictEntryRecord("\"b\"", "20", later));
    }

    [StoreFact]
    public async Task DictEntries_TouchPopListCountClearAndSweep_FollowTheTouchTime()
    {
        await Objects.CreateObjectAsync(ObjectKinds.Dict, "d", T0, default);
        await Objects.PutDictEntriesAsync("d", [.. Enumerable.Range(0, 5).Select(i => ($"\"k{i}\"", $"{i}"))], false, T0, T0 - Ttl, default);
        await Objects.TouchDictEntryAsync("d", "\"k1\"", T0.AddDays(3), default);
        var now = T0 + Ttl;

        (await Objects.CountDictEntriesAsync("d", now - Ttl, default)).Should().Be(1);
        (await Objects.ListDictEntriesAsync("d", null, 2, T0 - Ttl, default)).Select(e => e.Key).Should().Equal("\"k0\"", "\"k1\"");
        (await Objects.ListDictEntriesAsync("d", "\"k1\"", 10, T0 - Ttl, default)).Select(e => e.Key).Should().Equal("\"k2\"", "\"k3\"", "\"k4\"");
        (await Objects.PopDictEntryAsync("d", "\"k2\"", now - Ttl, default)).Should().BeNull("it had expired");
        (await Objects.PopDictEntryAsync("d", "\"k1\"", now - Ttl, default))!.Value.Should().Be("1");
        (await Objects.PopDictEntryAsync("d", "\"k1\"", now - Ttl, default)).Should().BeNull();
        (await Objects.SweepObjectsAsync(now - Ttl, now, default)).Should().Be(3);
        (await Objects.CountDictEntriesAsync("d", T0 - Ttl, default)).Should().Be(0);
        await Objects.PutDictEntriesAsync("d", [("\"x\"", "1")], false, now, now - Ttl, default);
        await Objects.ClearDictAsync("d", default);
        (await Objects.CountDictEntriesAsync("d", now - Ttl, default)).Should().Be(0);
    }

    [StoreFact]
    public async Task QueueItems_PutTakePeek_KeepFifoOrderAndLimits_AndSurviveReopen()
    {
        var ttl = TimeSpan.FromDays(1);
        (await Objects.PutQueueItemsAsync("q", "", ["1"], ttl, T0, 5, 2, default)).Should().Be(QueuePutOutcome.NoQueue);
        await Objects.CreateObjectAsync(ObjectKinds.Queue, "q", T0, default);
        (await Objects.PutQueueItemsAsync("q", "", ["1", "2", "3"], ttl, T0, 5, 2, default)).Should().Be(QueuePutOutcome.Accepted);
        (await Objects.PutQueueItemsAsync("q", "", ["4", "5", "6"], ttl, T0, 5, 2, default)).Should().Be(QueuePutOutcome.Full);
        (await Objects.PutQueueItemsAsync("q", "p", ["a"], ttl, T0, 5, 2, default)).Should().Be(QueuePutOutcome.Accepted);
        (await Objects.PutQueueItemsAsync("q", "r", ["b"], ttl, T0, 5, 2, default)).Should().Be(QueuePutOutcome.TooManyPartitions);
        await ReopenAsync();

        var peeked = await Objects.PeekQueueItemsAsync("q", "", 0, 2, T0, default);
        peeked.Select(i => i.Value).Should().Equal("1", "2");
        (await Objects.PeekQueueItemsAsync("q", "", peeked[^1].Id, 10, T0, default)).Select(i => i.Value).Should().Equal("3");
        (await Objects.TakeQueueItemsAsync("q", "", 2, T0, default)).Select(i => i.Value).Should().Equal("1", "2");
        (await Objects.CountQueueItemsAsync("q", "", T0, default)).Should().Be(1);
        (await Objects.CountQueueItemsAsync("q", null, T0, default)).Should().Be(2);
        await Objects.ClearQueueAsync("q", "p", default);
        (await Objects.CountQueueItemsAsync("q", null, T0, default)).Should().Be(1);
        (await Objects.TakeQueueItemsAsync("q", "", 10, T0, default)).Select(i => i.Value).Should().Equal("3");
        (await Objects.TakeQueueItemsAsync("q", "", 10, T0, default)).Should().BeEmpty();
    }

    [StoreFact]
    public async Task QueuePartition_ExpiresItsTtlAfterItsLastPut_AndStartsEmpty()
    {
        await Objects.CreateObjectAsync(ObjectKinds.Queue, "q", T0, default);
        var ttl = TimeSpan.FromHours(1);
        await Objects.PutQueueItemsAsync("q", "p", ["1"], ttl, T0, 5, 5, default);
        await Objects.PutQueueItemsAsync("q", "p", ["2"], ttl, T0.AddMinutes(30), 5, 5, default);
        var expiry = T0.AddMinutes(90);

        (await Objects.CountQueueItemsAsync("q", "p", expiry - TimeSpan.FromMilliseconds(1), default)).Should().Be(2);
        (await Objects.CountQueueItemsAsync("q", "p", expiry, default)).Should().Be(0);
        (await Objects.TakeQueueItemsAsync("q", "p", 5, expiry, default)).Should().BeEmpty();
        (await Objects.PutQueueItemsAsync("q", "p", ["3"], ttl, expiry, 5, 5, default)).Should().Be(QueuePutOutcome.Accepted);
        (await Objects.TakeQueueItemsAsync("q", "p", 5, expiry, default)).Select(i => i.Value).Should().Equal("3");
        await Objects.PutQueueItemsAsync("q", "other", ["x"], ttl, expiry, 5, 5, default);
        (await Objects.SweepObjectsAsync(expiry - Ttl, expiry + ttl, default)).Should().Be(2, "both partitions' TTLs have run out");
    }
}
