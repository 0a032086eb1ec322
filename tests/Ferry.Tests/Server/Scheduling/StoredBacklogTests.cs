using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;

namespace Ferry.Tests.Scheduling;

public sealed class StoredBacklogTests : IAsyncLifetime
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ferry-backlog-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly PoolState _pool = PoolFixtures.Pool(new FunctionSettings());
    private SqliteStore? _store;

    private ICallStore Calls => _store!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _store = new SqliteStore(Path.Combine(_dir, "ferry.db"));
        await _store.InitializeAsync(CancellationToken.None).WaitAsync(Limit);
    }

    public async Task DisposeAsync()
    {
        await _store!.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private CallState NewCall(string callId) =>
        new(new CallRecord(callId, "ap-1", "f", _pool.PoolId, CallKinds.Map, DateTimeOffset.UnixEpoch, false, null), _pool);

    private async Task<IReadOnlyList<long>> AcceptAsync(CallState call, int first, int count) =>
        await Calls.AddInputsAsync(call.Record, [.. Enumerable.Range(first, count).Select(i => new NewInput(i, $"[{i}]", null))], default).WaitAsync(Limit);

    /// <summary>Reads pages back as the scheduler does, taking <paramref name="take"/> queued inputs between pages, until nothing waits.</summary>
    /// <summary>Reads the page's inputs back from the store, as the scheduler does off its lock.</summary>
    private Task<IReadOnlyList<PendingInput>> ReadAsync(StoredBacklog.Page page) =>
        Calls.LoadQueuedInputsAsync(page.Call.Record, page.FromId, page.ToId, page.Limit, default).WaitAsync(Limit);

    private async Task<List<InputState>> DrainAsync(StoredBacklog backlog, Queue<InputState> ready, int window, int take)
    {
        var dispatched = new List<InputState>();
        while (true)
        {
            for (var i = 0; i < take && ready.TryDequeue(out var input); i++)
            {
                dispatched.Add(input);
            }
            if (backlog.NextPage(ready.Count, window) is { } page)
            {
                ready.Count.Should().BeLessThanOrEqualTo(window / 2, "a page is read only once the window has drained to half");
                var read = await ReadAsync(page);
                foreach (var input in backlog.Apply(page, read))
                {
                    ready.Enqueue(input);
                }
                ready.Count.Should().BeLessThanOrEqualTo(window, "a page only fills the window again");
            }
            else if (ready.Count == 0 && backlog.IsEmpty)
            {
                return dispatched;
            }
        }
    }

    [Fact]
    public void ShouldHold_UntilTheWindowIsFull_IsFalseAndOnceAnythingIsStoredIsTrue()
    {
        var backlog = new StoredBacklog();

        backlog.ShouldHold(queued: 6, arriving: 4, window: 10).Should().BeFalse();
        backlog.ShouldHold(queued: 7, arriving: 4, window: 10).Should().BeTrue();
        backlog.Add(NewCall("fc-1"), [5, 6]);
        backlog.ShouldHold(queued: 0, arriving: 1, window: 10).Should().BeTrue("what arrives after stored inputs waits behind them");
    }

    [Fact]
    public void Add_IdsOfZero_AreNotCountedAndConsecutiveIdsOfOneCallShareARun()
    {
        var backlog = new StoredBacklog();
        var a = NewCall("fc-a");
        var b = NewCall("fc-b");

        backlog.Add(a, [10, 0, 11, 12]);
        backlog.Add(a, [13, 14]);
        backlog.Add(b, [15]);
        backlog.Add(a, [17]);

        backlog.Count.Should().Be(7);
        backlog.NextPage(queued: 0, window: 100).Should().Be(new StoredBacklog.Page(a, 10, 14, 100));
    }

    [Fact]
    public void NextPage_AboveHalfTheWindowOrWhileAPageIsRead_IsNull()
    {
        var backlog = new StoredBacklog();
        var call = NewCall("fc-1");
        backlog.Add(call, [1, 2, 3]);

        backlog.NextPage(queued: 6, window: 10).Should().BeNull();
        var page = backlog.NextPage(queued: 5, window: 10);
        var second = backlog.NextPage(queued: 0, window: 10);
        backlog.Abandon();
        var again = backlog.NextPage(queued: 0, window: 10);

        page.Should().Be(new StoredBacklog.Page(call, 1, 3, 5));
        second.Should().BeNull("one page is read at a time");
        again.Should().Be(new StoredBacklog.Page(call, 1, 3, 10), "an abandoned page is handed out again");
    }

    [Fact]
    public async Task Pages_OfManyCallsAcceptedBeyondTheWindow_ComeBackOnceEachInTheOrderAccepted()
    {
        const int Window = 8;
        var backlog = new StoredBacklog();
        var ready = new Queue<InputState>();
        var a = NewCall("fc-a");
        var b = NewCall("fc-b");
        var accepted = new List<(CallState Call, int Index)>();
        // Batches of two calls interleave, as concurrent maps of one function do; the first fill the window.
        foreach (var (call, first, count) in new[] { (a, 0, 5), (b, 0, 3), (a, 5, 7), (b, 3, 9), (a, 12, 1), (b, 12, 6) })
        {
            var ids = await AcceptAsync(call, first, count);
            if (backlog.ShouldHold(ready.Count, count, Window))
            {
                backlog.Add(call, ids);
            }
            else
            {
                for (var i = 0; i < count; i++)
                {
                    ready.Enqueue(new InputState(ids[i], call, first + i, null, null));
                }
            }
            accepted.AddRange(Enumerable.Range(first, count).Select(i => (call, i)));
        }
        ready.Should().HaveCount(8);
        backlog.Count.Should().Be(23);

        var dispatched = await DrainAsync(backlog, ready, Window, take: 3);

        dispatched.Select(i => (i.Call, i.Index)).Should().Equal(accepted);
        dispatched.Skip(8).Should().AllSatisfy(i => i.Args!.Value.GetRawText().Should().Be($"[{i.Index}]"));
        backlog.Count.Should().Be(0);
    }

    [Fact]
    public async Task Apply_InputsFinishedOrInMemoryMeanwhile_AreLeftOutAndTheCountSettlesAtZero()
    {
        var backlog = new StoredBacklog();
        var call = NewCall("fc-1");
        var ids = await AcceptAsync(call, 0, 6);
        await Calls.SetAttemptAsync(ids[4], 2, default);
        backlog.Add(call, ids);
        // One input finished while it waited (its call was cancelled), another is held in memory already.
        await Calls.CompleteInputsAsync([new CompletionRecord(ids[1], call.CallId, false, null, null, null, DateTimeOffset.UnixEpoch)], default);
        call.Open[3] = new InputState(ids[3], call, 3, null, null);

        var page = backlog.NextPage(queued: 0, window: 4)!;
        var first = backlog.Apply(page, await ReadAsync(page));
        var next = backlog.NextPage(queued: 0, window: 4)!;
        var second = backlog.Apply(next, await ReadAsync(next));

        first.Select(i => i.Index).Should().Equal(0, 2, 4);
        first.Single(i => i.Index == 4).Attempt.Should().Be(2, "an input read back keeps its recorded attempt");
        second.Select(i => i.Index).Should().Equal(5);
        backlog.IsEmpty.Should().BeTrue();
        backlog.Count.Should().Be(0);
    }

    [Fact]
    public async Task Add_ToTheRunWhileItsLastPageIsRead_IsReadByTheNextPage()
    {
        var backlog = new StoredBacklog();
        var call = NewCall("fc-1");
        backlog.Add(call, await AcceptAsync(call, 0, 3));
        var page = backlog.NextPage(queued: 0, window: 10)!;
        var read = await ReadAsync(page);

        // The next batch of the call commits right after the first, while the page is read: the run grows.
        backlog.Add(call, await AcceptAsync(call, 3, 2));
        var first = backlog.Apply(page, read);
        var dispatched = await DrainAsync(backlog, new Queue<InputState>(), window: 10, take: 10);

        first.Select(i => i.Index).Should().Equal(0, 1, 2);
        dispatched.Select(i => i.Index).Should().Equal(3, 4);
        backlog.Count.Should().Be(0);
    }

    [Fact]
    public async Task AddRange_AfterARestart_ReadsBackEveryUnfinishedInputOfTheCallFromItsFirstId()
    {
        var backlog = new StoredBacklog();
        var call = NewCall("fc-1");
        var ids = await AcceptAsync(call, 0, 10);
        await AcceptAsync(NewCall("fc-other"), 0, 3);
        await Calls.CompleteInputsAsync([new CompletionRecord(ids[7], call.CallId, true, "7", null, null, DateTimeOffset.UnixEpoch)], default);
        backlog.AddRange(call, ids[4], ids[9], 5);

        var dispatched = await DrainAsync(backlog, new Queue<InputState>(), window: 4, take: 4);

        dispatched.Select(i => i.Index).Should().Equal(4, 5, 6, 8, 9);
        backlog.Count.Should().Be(0);
    }

    [Fact]
    public async Task Clear_WhileAPageIsRead_TheLatePageQueuesNothing()
    {
        var backlog = new StoredBacklog();
        var call = NewCall("fc-1");
        backlog.Add(call, await AcceptAsync(call, 0, 3));
        var page = backlog.NextPage(queued: 0, window: 10)!;
        var read = await ReadAsync(page);

        backlog.Clear();

        backlog.Apply(page, read).Should().BeEmpty();
        backlog.Count.Should().Be(0);
    }
}
