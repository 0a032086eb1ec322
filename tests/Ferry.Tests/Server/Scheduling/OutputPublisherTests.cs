using System.Reflection;
using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Scheduling;

public sealed class OutputPublisherTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly HeldWrites _store = DispatchProxy.Create<ICallStore, HeldWrites>() as HeldWrites ?? throw new InvalidOperationException();
    private readonly CallTable _calls = new(new SchedulerOptions { FinishedCallGrace = TimeSpan.FromSeconds(60), EvictedCallMemory = TimeSpan.FromMinutes(10) });
    private readonly Lock _gate = new();
    private readonly OutputPublisher _publisher;

    public OutputPublisherTests() =>
        _publisher = new OutputPublisher(_gate, (ICallStore)(object)_store, _calls, new ChangeSignal(), new FakeTimeProvider(T0), NullLogger.Instance);

    private InputState OpenInput(string callId, string kind)
    {
        var function = new FunctionDefinition("f", [], "int", new FunctionSettings());
        var app = new AppState(new AppRecord("ap-1", "app", "bd-1", AppStates.Running, false, T0, null, null));
        var call = new CallState(new CallRecord(callId, "ap-1", "f", "f", kind, T0, true, null), new PoolState("f", app, function, function.Settings, null));
        _calls.Add(call);
        call.Indices.Add(0);
        var input = new InputState(1, call, 0, null, null);
        call.Open[0] = input;
        return input;
    }

    private void Complete(InputState input, List<TaskCompletionSource> wake)
    {
        lock (_gate)
        {
            _publisher.Complete([(input, new ContainerOutput(input.Id, 0, true))], wake);
        }
    }

    [Fact]
    public void Complete_SyncCallOfOneInput_PublishesBeforeTheWriteCommitsAndStaysUntilItHas()
    {
        var input = OpenInput("fc-1", CallKinds.Sync);
        var waiting = input.Call.Changed.Task;
        var wake = new List<TaskCompletionSource>();

        Complete(input, wake);

        _store.Writes.Should().HaveCount(1, "the output is written whatever else happens");
        input.Call.Outputs.Select(o => (o.Index, o.Cursor)).Should().Equal([(0, 1L)]);
        input.Call.IsDone.Should().BeTrue();
        wake.Select(s => s.Task).Should().Equal([waiting], "the caller waiting on the call is woken once the lock is released");

        lock (_gate)
        {
            _calls.Evict(input.Call, T0);
        }
        _calls.ContainsKey("fc-1").Should().BeTrue("a read from the store would find the input unfinished until the write commits");

        _store.Writes[0].SetResult();

        _calls.ContainsKey("fc-1").Should().BeFalse("the eviction asked for while the write was pending happens once it commits");
        _calls.WasEvicted("fc-1").Should().BeTrue();
    }

    [Fact]
    public void Complete_SyncCallSavedBeforeAnyEviction_StaysUntilEvicted()
    {
        var input = OpenInput("fc-1", CallKinds.Sync);

        Complete(input, []);
        _store.Writes[0].SetResult();

        _calls.ContainsKey("fc-1").Should().BeTrue();
        _calls.Evict(input.Call, T0);
        _calls.ContainsKey("fc-1").Should().BeFalse();
    }

    [Theory]
    [InlineData(CallKinds.Spawn)]
    [InlineData(CallKinds.Map)]
    public void Complete_OtherKinds_PublishOnlyOnceTheWriteCommits(string kind)
    {
        var input = OpenInput("fc-1", kind);
        var waiting = input.Call.Changed.Task;
        var wake = new List<TaskCompletionSource>();

        Complete(input, wake);

        wake.Should().BeEmpty();
        input.Call.Outputs.Should().BeEmpty("another reader could see a cursor the store has not given yet");
        _store.Writes[0].SetResult();

        input.Call.Outputs.Select(o => (o.Index, o.Cursor)).Should().Equal([(0, 1L)]);
        waiting.IsCompleted.Should().BeTrue();
    }

    [Fact]
    public void Complete_SyncCallWithoutWake_PublishesOnlyOnceTheWriteCommits()
    {
        var input = OpenInput("fc-1", CallKinds.Sync);

        lock (_gate)
        {
            _publisher.Complete([(input, new ContainerOutput(input.Id, 0, true))]);
        }

        input.Call.Outputs.Should().BeEmpty();
        _store.Writes[0].SetResult();
        input.Call.Outputs.Should().HaveCount(1);
    }

    [Fact]
    public void Complete_EarlyOutputBehindAPendingWrite_DoesNotWaitForIt()
    {
        var map = OpenInput("fc-map", CallKinds.Map);
        var sync = OpenInput("fc-sync", CallKinds.Sync);

        Complete(map, []);
        Complete(sync, []);

        sync.Call.Outputs.Should().HaveCount(1, "a sync call's only output has cursor 1 whatever commits first");
        map.Call.Outputs.Should().BeEmpty();

        _store.Writes[1].SetResult();
        map.Call.Outputs.Should().BeEmpty("outputs that wait for their write are published in the order of the writes");

        _store.Writes[0].SetResult();
        map.Call.Outputs.Should().HaveCount(1);
    }

    /// <summary>A store whose completion writes stay pending until the test commits them; nothing else is used.</summary>
    public class HeldWrites : DispatchProxy
    {
        public List<TaskCompletionSource> Writes { get; } = [];

        protected override object? Invoke(MethodInfo? method, object?[]? args)
        {
            if (method?.Name != nameof(ICallStore.CompleteInputsAsync))
            {
                throw new NotSupportedException(method?.Name);
            }
            var write = new TaskCompletionSource();
            Writes.Add(write);
            return write.Task;
        }
    }
}
