using System.Net;
using System.Net.Http.Json;
using FluentAssertions;
using Ferry.Protocol;

namespace Ferry.IntegrationTests;

/// <summary>Finished work leaves memory when it has been read, and the store when its retention ends.</summary>
public sealed class RetentionTests(ManualClockFixture fixture) : IClassFixture<ManualClockFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_call_read_to_its_end_leaves_memory_and_is_then_paged_from_the_store()
    {
        var appId = await fixture.NewAppAsync();
        var squares = new List<int>();
        await foreach (var square in fixture.Functions.Square.MapAsync(Enumerable.Range(0, 300)).WithCancellation(new CancellationTokenSource(Limit).Token))
        {
            squares.Add(square);
        }
        squares.Should().Equal(Enumerable.Range(0, 300).Select(x => x * x));
        var callId = (await fixture.CallIdsAsync(appId)).Should().ContainSingle().Subject;

        fixture.Scheduler.IsCallInMemory(callId).Should().BeFalse("its caller read every output");
        using var http = fixture.NewHttpClient();
        var first = await http.GetFromJsonAsync(Routes.Outputs(callId, 0, limit: 100), ProtocolJsonContext.Default.OutputBatch);
        var rest = await http.GetFromJsonAsync(Routes.Outputs(callId, first!.Next, limit: 1000), ProtocolJsonContext.Default.OutputBatch);
        var status = await http.GetFromJsonAsync(Routes.Call(callId), ProtocolJsonContext.Default.CallStatus);

        first.Outputs.Should().HaveCount(100);
        first.Done.Should().BeFalse();
        first.Outputs.Select(o => o.Cursor).Should().Equal(Enumerable.Range(1, 100).Select(i => (long)i));
        rest!.Outputs.Should().HaveCount(200);
        rest.Done.Should().BeTrue();
        rest.Next.Should().Be(300);
        first.Outputs.Concat(rest.Outputs).Select(o => (o.Index, o.Result!.Value.GetInt32())).OrderBy(p => p.Index)
            .Should().Equal(Enumerable.Range(0, 300).Select(x => (x, x * x)));
        status.Should().Be(new CallStatus(callId, "square", "done", 300, 300, true));
        fixture.Scheduler.IsCallInMemory(callId).Should().BeFalse("reading an old call does not load it");
    }

    [Fact]
    public async Task An_unread_spawn_leaves_memory_after_its_grace_period()
    {
        var appId = await fixture.NewAppAsync();
        var call = await fixture.Functions.Square.SpawnAsync(5);
        await fixture.WaitUntilAsync(() => fixture.Scheduler.IsCallDoneInMemory(call.Id));
        fixture.Scheduler.IsCallInMemory(call.Id).Should().BeTrue("nobody has read it yet");

        fixture.ManualClock.Advance(TimeSpan.FromSeconds(61));
        fixture.Server.Tick();

        fixture.Scheduler.IsCallInMemory(call.Id).Should().BeFalse();
        (await call.GetAsync().WaitAsync(Limit)).Should().Be(25);
        fixture.Scheduler.IsCallInMemory(call.Id).Should().BeFalse();
    }

    [Fact]
    public async Task Calls_logs_and_stopped_apps_leave_the_store_after_the_retention_period()
    {
        var old = await fixture.NewAppAsync();
        (await fixture.Functions.Print.RemoteAsync("kept for a week").WaitAsync(Limit)).Should().BeGreaterThan(0);
        var oldCall = (await fixture.CallIdsAsync(old)).Single();
        await fixture.WaitForLogAsync(old, e => e.Text.Contains("kept for a week", StringComparison.Ordinal));
        var current = await fixture.NewAppAsync(); // stops the old app
        fixture.ManualClock.Advance(TimeSpan.FromDays(7) + TimeSpan.FromMinutes(1));
        (await fixture.Functions.Square.RemoteAsync(4).WaitAsync(Limit)).Should().Be(16);
        var recentCall = (await fixture.CallIdsAsync(current)).Single();

        await fixture.Server.SweepRetentionAsync();

        using var http = fixture.NewHttpClient();
        (await http.GetAsync(Routes.Call(oldCall))).StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await http.GetAsync(Routes.App(old))).StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await http.GetFromJsonAsync(Routes.Apps, ProtocolJsonContext.Default.AppList))!.Apps.Select(a => a.AppId).Should().NotContain(old).And.Contain(current);
        (await http.GetFromJsonAsync(Routes.Call(recentCall), ProtocolJsonContext.Default.CallStatus))!.State.Should().Be("done");
        (await fixture.Functions.Square.RemoteAsync(5).WaitAsync(Limit)).Should().Be(25);
    }
}
