using System.Net;
using System.Net.Sockets;
using FluentAssertions;
using Ferry.Protocol;

namespace Ferry.IntegrationTests;

public sealed class CancellationTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);
    private readonly Ferry.TestApp.TestFunctions _f = fixture.Functions;

    private static string NewTag() => "t-" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task CancelAsync_cancels_the_functions_token_and_frees_its_slot()
    {
        var appId = await fixture.NewAppAsync().WaitAsync(Limit);
        var tag = NewTag();
        var call = await _f.WaitForCancel.SpawnAsync(tag, "").WaitAsync(Limit);
        var pending = call.GetAsync();
        var waiting = await fixture.WaitForLogAsync(appId, e => e.Text == $"waiting {tag}").WaitAsync(Limit);

        await call.CancelAsync().WaitAsync(Limit);

        await FluentActions.Awaiting(() => pending.WaitAsync(Limit)).Should().ThrowAsync<InputCancelledException>();
        var cancelled = await fixture.WaitForLogAsync(appId, e => e.Text == $"cancelled {tag}").WaitAsync(Limit);
        cancelled.ContainerId.Should().Be(waiting.ContainerId);
        // MaxContainers = 1 and MaxInputs = 1: the next call runs once the container has reported the cancelled input.
        (await _f.WaitForCancel.RemoteAsync("", "").WaitAsync(Limit)).Should().Be(waiting.ContainerId);
        fixture.Pool(appId, "wait_for_cancel").PeakContainers.Should().Be(1);
    }

    [Fact]
    public async Task CancelAsync_cancels_the_token_of_a_class_method_and_frees_its_slot()
    {
        var appId = await fixture.NewAppAsync().WaitAsync(Limit);
        var wait = _f.Waiter.Method<string, string>(w => w.Wait);
        var tag = NewTag();
        var call = await wait.SpawnAsync(tag).WaitAsync(Limit);
        var pending = call.GetAsync();
        var waiting = await fixture.WaitForLogAsync(appId, e => e.Text == $"waiting {tag}").WaitAsync(Limit);

        await call.CancelAsync().WaitAsync(Limit);

        await FluentActions.Awaiting(() => pending.WaitAsync(Limit)).Should().ThrowAsync<InputCancelledException>();
        var cancelled = await fixture.WaitForLogAsync(appId, e => e.Text == $"cancelled {tag}").WaitAsync(Limit);
        cancelled.ContainerId.Should().Be(waiting.ContainerId);
        (await wait.RemoteAsync("").WaitAsync(Limit)).Should().Be(waiting.ContainerId);
        (await wait.GetCurrentStatsAsync().WaitAsync(Limit)).Should().Be(new FunctionStats(Backlog: 0, Containers: 1, RunningInputs: 0, IdleContainers: 1));
    }

    [Fact]
    public async Task A_cancelled_input_that_keeps_running_holds_its_slot_until_it_finishes_and_its_result_is_discarded()
    {
        var appId = await fixture.NewAppAsync().WaitAsync(Limit);
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var tag = NewTag();
        var call = await _f.WaitForCancel.SpawnAsync(tag, $"127.0.0.1:{((IPEndPoint)holder.LocalEndpoint).Port}").WaitAsync(Limit);
        var pending = call.GetAsync();
        var waiting = await fixture.WaitForLogAsync(appId, e => e.Text == $"waiting {tag}").WaitAsync(Limit);

        await call.CancelAsync().WaitAsync(Limit);

        // The caller learns at once, while the function, having seen its token, goes on running until released.
        await FluentActions.Awaiting(() => pending.WaitAsync(Limit)).Should().ThrowAsync<InputCancelledException>();
        using var held = await holder.AcceptTcpClientAsync().WaitAsync(Limit);
        var next = await _f.WaitForCancel.SpawnAsync("", "").WaitAsync(Limit);
        // The cancelled input still holds the only slot: the next one waits in the container, not counted as running.
        (await _f.WaitForCancel.GetCurrentStatsAsync().WaitAsync(Limit))
            .Should().Be(new FunctionStats(Backlog: 1, Containers: 1, RunningInputs: 1, IdleContainers: 0));

        held.Close();

        (await next.GetAsync().WaitAsync(Limit)).Should().Be(waiting.ContainerId);
        await FluentActions.Awaiting(() => call.GetAsync().WaitAsync(Limit)).Should().ThrowAsync<InputCancelledException>();
        fixture.Pool(appId, "wait_for_cancel").PeakContainers.Should().Be(1);
    }
}
