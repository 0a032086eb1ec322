using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;

namespace Ferry.Tests.Scheduling;

public sealed class CallTableTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static readonly SchedulerOptions Options = new() { FinishedCallGrace = TimeSpan.FromSeconds(60), EvictedCallMemory = TimeSpan.FromMinutes(10) };

    private static CallState DoneCall(string callId)
    {
        var function = new FunctionDefinition("f", [], "int", new FunctionSettings());
        var app = new AppState(new AppRecord("ap-1", "app", "bd-1", AppStates.Running, false, T0, null, null));
        var call = new CallState(new CallRecord(callId, "ap-1", "f", "f", "call", T0, true, null), new PoolState("f", app, function, function.Settings, null));
        call.Indices.Add(0);
        call.Outputs.Add(new OutputItem(0, true, null, null, null, 1));
        return call;
    }

    [Fact]
    public void Sweep_FinishedCallNobodyReads_LeavesAfterTheGraceAndIsRememberedForTheMemory()
    {
        var table = new CallTable(Options);
        var call = DoneCall("fc-1");
        table.Add(call);
        table.MarkIfDone(call, T0);

        table.Sweep(T0 + TimeSpan.FromSeconds(59));
        table.ContainsKey("fc-1").Should().BeTrue();

        table.Sweep(T0 + TimeSpan.FromSeconds(60));
        table.ContainsKey("fc-1").Should().BeFalse();
        table.WasEvicted("fc-1").Should().BeTrue();
        table.ReleasedOutputs.Should().Be(1);

        table.Sweep(T0 + TimeSpan.FromSeconds(60) + TimeSpan.FromMinutes(10));
        table.WasEvicted("fc-1").Should().BeFalse();
    }

    [Fact]
    public void TrimOutputs_BeyondTheWindow_KeepsTheLatestHalfAndCountsWhatLeft()
    {
        var table = new CallTable(Options with { OutputWindow = 10 });
        var call = DoneCall("fc-1");
        for (var i = 1; i < 10; i++)
        {
            call.Indices.Add(i);
            call.Outputs.Add(new OutputItem(i, i % 3 != 0, null, null, null, call.Published + 1));
        }
        table.TrimOutputs(call);
        (call.OutputsBefore, call.Outputs.Count).Should().Be((0, 10), "ten outputs fit the window");

        call.Indices.Add(10);
        call.Outputs.Add(new OutputItem(10, true, null, null, null, 11));
        table.TrimOutputs(call);

        call.Outputs.Select(o => o.Cursor).Should().Equal(7, 8, 9, 10, 11);
        call.OutputsBefore.Should().Be(6);
        call.Published.Should().Be(11);
        call.FailedBefore.Should().Be(1, "of the outputs that left memory (indices 0 to 5) only index 3's failed");
        call.IsDone.Should().BeTrue();
        table.ReleasedOutputs.Should().Be(6);
    }

    [Fact]
    public void Add_ReloadedAfterEviction_IsNoLongerEvicted()
    {
        var table = new CallTable(Options);
        var call = DoneCall("fc-1");
        table.Add(call);
        table.Evict(call, T0);
        table.WasEvicted("fc-1").Should().BeTrue();

        table.Add(call);

        table.WasEvicted("fc-1").Should().BeFalse();
        table.Sweep(T0 + TimeSpan.FromMinutes(11));
        table.ContainsKey("fc-1").Should().BeTrue("a call never marked done has no grace period running");
    }

    [Fact]
    public void MarkIfDone_Unfinished_DoesNotStartTheGrace()
    {
        var table = new CallTable(Options);
        var call = DoneCall("fc-1");
        call.Indices.Add(1);
        table.Add(call);

        table.MarkIfDone(call, T0);

        call.DoneAt.Should().BeNull();
        table.Sweep(T0 + TimeSpan.FromHours(1));
        table.ContainsKey("fc-1").Should().BeTrue();
    }
}
