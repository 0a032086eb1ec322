using System.Net.Sockets;
using FluentAssertions;
using Ferry.Hosting;
using Ferry.Protocol;

namespace Ferry.IntegrationTests;

/// <summary>Generator functions: items stream to the caller while the function runs, bounded, cancellable, in order.</summary>
public sealed class GeneratorTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);
    private readonly Ferry.TestApp.TestFunctions _f = fixture.Functions;

    private static string NewTag() => "t-" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task RemoteStreamAsync_delivers_the_first_item_while_the_generator_runs_then_every_item_once_in_order()
    {
        await fixture.NewAppAsync().WaitAsync(Limit);
        // The generator waits at this gate after its first item; the gate opens only once that item has arrived here.
        using var gate = new TcpListener(ExecutionCounter.PrimaryAddress(), 0);
        gate.Start();
        var endpoint = (System.Net.IPEndPoint)gate.LocalEndpoint;
        using var timeout = new CancellationTokenSource(Limit);
        var received = new List<int>();

        await foreach (var item in _f.GatedTicks.RemoteStreamAsync(10_000, $"{endpoint.Address}:{endpoint.Port}", timeout.Token))
        {
            received.Add(item);
            if (received.Count == 1)
            {
                using var held = await gate.AcceptTcpClientAsync(timeout.Token);
                held.Close();
            }
        }

        received.Should().Equal(Enumerable.Range(0, 10_000));
        fixture.Server.Streams.HeldCalls().Should().BeEmpty("a stream read to its end is released");
    }

    [Fact]
    public async Task Breaking_out_of_the_enumeration_cancels_the_generators_token()
    {
        var appId = await fixture.NewAppAsync().WaitAsync(Limit);
        var tag = NewTag();
        using var timeout = new CancellationTokenSource(Limit);
        var received = new List<int>();

        await foreach (var item in _f.TicksThenWait.RemoteStreamAsync(tag, timeout.Token))
        {
            received.Add(item);
            if (received.Count == 3)
            {
                break;
            }
        }

        received.Should().Equal(0, 1, 2);
        await fixture.WaitForLogAsync(appId, e => e.Text == $"cancelled {tag}").WaitAsync(Limit);
        fixture.Server.Streams.HeldCalls().Should().BeEmpty("a cancelled call's stream is released");
    }

    [Fact]
    public async Task Cancelling_the_callers_token_cancels_the_generators_token_and_throws()
    {
        var appId = await fixture.NewAppAsync().WaitAsync(Limit);
        var tag = NewTag();
        using var timeout = new CancellationTokenSource(Limit);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token);
        var received = new List<int>();

        var reading = async () =>
        {
            await foreach (var item in _f.TicksThenWait.RemoteStreamAsync(tag, stop.Token))
            {
                received.Add(item);
                if (received.Count == 3)
                {
                    await stop.CancelAsync();
                }
            }
        };

        await reading.Should().ThrowAsync<OperationCanceledException>();
        received.Should().Equal(0, 1, 2);
        await fixture.WaitForLogAsync(appId, e => e.Text == $"cancelled {tag}").WaitAsync(Limit);
    }

    [Fact]
    public async Task An_exception_after_three_items_arrives_after_them_as_a_RemoteException_without_a_retry()
    {
        await fixture.NewAppAsync().WaitAsync(Limit);
        var message = "failed after three " + NewTag();
        await using var executions = await ExecutionCounter.StartAsync(1);
        using var timeout = new CancellationTokenSource(Limit);
        var received = new List<int>();

        var reading = async () =>
        {
            await foreach (var item in _f.FailAfter.RemoteStreamAsync(executions.Url, 3, message, timeout.Token))
            {
                received.Add(item);
            }
        };

        var error = (await reading.Should().ThrowAsync<RemoteException>()).Which;
        received.Should().Equal(0, 1, 2);
        error.RemoteType.Should().Be(typeof(InvalidOperationException).FullName);
        error.RemoteMessage.Should().Be(message);
        error.InnerException.Should().BeOfType<RemoteException>().Which.RemoteMessage.Should().Be("the inner cause");
        // The function has Retries(2), but a generator that ran is never run again: its outcome came from its one execution.
        executions.Total.Should().Be(1);
    }

    [Fact]
    public async Task A_class_method_generator_streams_from_the_instance_its_enter_hook_prepared()
    {
        await fixture.NewAppAsync().WaitAsync(Limit);
        var words = _f.Streamer.Method(s => s.Words);
        using var timeout = new CancellationTokenSource(Limit);
        var received = new List<string>();

        await foreach (var word in words.RemoteStreamAsync(2_000, timeout.Token))
        {
            received.Add(word);
        }

        received.Should().Equal(Enumerable.Range(0, 2_000).Select(i => $"word-{i}"));
    }

    [Fact]
    public async Task A_caller_that_stops_reading_leaves_the_generator_waiting_at_the_window_and_reading_on_resumes_it()
    {
        await fixture.NewAppAsync().WaitAsync(Limit);
        const int count = 5_000;
        await using var counter = await ExecutionCounter.StartAsync(count);
        using var timeout = new CancellationTokenSource(Limit);
        var relay = fixture.Server.Streams;

        await using var items = _f.CountedTicks.RemoteStreamAsync(counter.Url, count, timeout.Token).GetAsyncEnumerator(timeout.Token);
        (await items.MoveNextAsync()).Should().BeTrue();
        items.Current.Should().Be(0);
        await relay.WaitUntilAsync(() => relay.HeldCalls() is [var call] && relay.Inspect(call) is { Full: true }, timeout.Token);

        // Every item in the window was counted before it was yielded, and the generator is not resumed past it.
        counter.Total.Should().Be(ProtocolInfo.StreamWindowItems);
        relay.Inspect(relay.HeldCalls()[0])!.Value.Buffered.Should().Be(ProtocolInfo.StreamWindowItems);

        var received = new List<int> { items.Current };
        while (await items.MoveNextAsync())
        {
            received.Add(items.Current);
        }
        received.Should().Equal(Enumerable.Range(0, count));
        counter.Snapshot().Should().AllSatisfy(n => n.Should().Be(1));
    }

    [Fact]
    public async Task RemoteAsync_on_a_generator_names_RemoteStreamAsync_and_the_server_refuses_a_mismatched_call_kind()
    {
        await fixture.NewAppAsync().WaitAsync(Limit);

        var remote = () => _f.Ticks.RemoteAsync(3);
        (await remote.Should().ThrowAsync<InvalidRequestException>()).Which.Message.Should().Contain("RemoteStreamAsync");

        var args = System.Text.Json.JsonSerializer.SerializeToElement(new[] { 3 });
        var syncOfGenerator = () => FerryContext.Client.CreateCallAsync(
            new CreateCallRequest("fc-" + NewTag(), "ticks", CallKinds.Sync, [new InputItem(0, args)], Final: true), CancellationToken.None);
        (await syncOfGenerator.Should().ThrowAsync<FerryException>()).Which.Message.Should().Contain("is a generator");
        var streamOfPlain = () => FerryContext.Client.CreateCallAsync(
            new CreateCallRequest("fc-" + NewTag(), "square", CallKinds.Stream, [new InputItem(0, args)], Final: true), CancellationToken.None);
        (await streamOfPlain.Should().ThrowAsync<FerryException>()).Which.Message.Should().Contain("is not a generator");
    }
}

/// <summary>Generators in runc containers, whose items reach the control plane through the worker's relay.</summary>
public sealed class RuncGeneratorTests(RuncFixture fixture) : IClassFixture<RuncFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);
    private readonly Ferry.TestApp.TestFunctions _f = fixture.Functions;

    [RuncFact]
    public async Task A_generator_in_runc_streams_its_first_item_while_it_runs_and_stops_when_the_caller_breaks()
    {
        var appId = await fixture.NewAppAsync().WaitAsync(Limit);
        using var gate = new TcpListener(ExecutionCounter.PrimaryAddress(), 0);
        gate.Start();
        var endpoint = (System.Net.IPEndPoint)gate.LocalEndpoint;
        using var timeout = new CancellationTokenSource(Limit);
        var received = new List<int>();

        await foreach (var item in _f.GatedTicks.RemoteStreamAsync(10_000, $"{endpoint.Address}:{endpoint.Port}", timeout.Token))
        {
            received.Add(item);
            if (received.Count == 1)
            {
                using var held = await gate.AcceptTcpClientAsync(timeout.Token);
                held.Close();
            }
        }
        received.Should().Equal(Enumerable.Range(0, 10_000));

        var tag = "t-" + Guid.NewGuid().ToString("N")[..12];
        await foreach (var item in _f.TicksThenWait.RemoteStreamAsync(tag, timeout.Token))
        {
            if (item == 2)
            {
                break;
            }
        }
        await fixture.WaitForLogAsync(appId, e => e.Text == $"cancelled {tag}").WaitAsync(Limit);
    }
}
