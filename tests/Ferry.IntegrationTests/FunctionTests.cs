using System.Text;
using FluentAssertions;

namespace Ferry.IntegrationTests;

public sealed class FunctionTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private readonly Ferry.TestApp.TestFunctions _f = fixture.Functions;

    [Fact]
    public async Task A_cold_containers_first_input_comes_with_its_start_command()
    {
        var appId = await fixture.NewAppAsync();

        var result = await _f.Square.RemoteAsync(9);
        var batched = await _f.Lengths.RemoteAsync("x");
        var container = fixture.Pool(appId, "square").Containers.Values.Single();

        result.Should().Be(81);
        container.FirstInputId.Should().NotBeNull("the only input went to the new container with its start command");
        fixture.Pool(appId, "lengths").Containers.Values.Single().FirstInputId.Should().BeNull("batching pools gather their batches in the container");
        batched.Should().Be("x/1");
    }

    [Fact]
    public async Task On_the_process_runtime_an_image_with_steps_runs_unbuilt_and_the_app_is_told_once()
    {
        var appId = await fixture.NewAppAsync();

        var results = await Task.WhenAll(_f.MissingPackage.RemoteAsync(1), _f.MissingPackage.RemoteAsync(2));
        var notices = (await fixture.LogsAsync(appId)).Where(e => e.Text.StartsWith("This worker runs containers as plain processes", StringComparison.Ordinal)).ToList();

        results.Should().Equal(1, 2);
        notices.Should().ContainSingle().Which.Text.Should().Contain("(apt_install ferry-no-such-package) are not applied");
    }

    [Fact]
    public async Task Remote_call_returns_the_result_computed_in_a_container()
    {
        await fixture.NewAppAsync();

        (await _f.Square.RemoteAsync(7)).Should().Be(49);
        (await _f.Add.RemoteAsync(2, 40)).Should().Be(42);
        var container = await _f.Sleep.RemoteAsync(0);
        container.Should().StartWith("ct-", "the function ran in a container process, not in the test");
    }

    [Fact]
    public async Task Records_lists_and_large_byte_arrays_round_trip()
    {
        await fixture.NewAppAsync();

        var point = await _f.Record.RemoteAsync(new Ferry.TestApp.Point(21, 5, ["a"]));
        point.Should().BeEquivalentTo(new Ferry.TestApp.Point(42, 5, ["a", "seen"]));

        // Larger than the inline limit both ways, so arguments and result travel through the blob store.
        var data = new byte[3 * 1024 * 1024];
        new Random(7).NextBytes(data);
        var echoed = await _f.Echo.RemoteAsync(data);
        echoed.Should().Equal(data);
    }

    [Fact]
    public async Task Map_over_100000_inputs_returns_every_result_in_input_order()
    {
        await fixture.NewAppAsync();
        var inputs = Enumerable.Range(0, 100_000).ToList();

        var results = new List<int>(inputs.Count);
        await foreach (var result in _f.Square.MapAsync(inputs))
        {
            results.Add(result);
        }

        results.Should().Equal(inputs.Select(i => i * i));
    }

    [Fact]
    public async Task Unordered_map_starmap_and_foreach_cover_every_input()
    {
        await fixture.NewAppAsync();

        var unordered = new List<int>();
        await foreach (var result in _f.Square.MapAsync(Enumerable.Range(0, 500), orderOutputs: false))
        {
            unordered.Add(result);
        }
        unordered.Should().BeEquivalentTo(Enumerable.Range(0, 500).Select(i => i * i));

        var sums = new List<int>();
        await foreach (var sum in _f.Add.StarMapAsync([(1, 2), (3, 4), (5, 6)]))
        {
            sums.Add(sum);
        }
        sums.Should().Equal(3, 7, 11);

        await _f.Square.ForEachAsync(Enumerable.Range(0, 50));
    }

    [Fact]
    public async Task Map_with_outcomes_yields_exceptions_in_place()
    {
        await fixture.NewAppAsync();

        var outcomes = new List<Outcome<int>>();
        await foreach (var outcome in _f.Fail.MapOutcomesAsync(["a", "bb"]))
        {
            outcomes.Add(outcome);
        }

        outcomes.Should().HaveCount(2);
        outcomes.Select(o => o.Index).Should().Equal(0, 1);
        outcomes.Should().OnlyContain(o => !o.IsSuccess);
        outcomes[1].Exception.Should().BeOfType<RemoteException>().Which.RemoteMessage.Should().Be("bb");
    }

    [Fact]
    public async Task Cancelling_a_spawn_map_takes_its_queued_inputs_out_of_the_backlog()
    {
        await fixture.NewAppAsync();
        var map = await _f.Burst.SpawnMapAsync(Enumerable.Repeat(30_000, 30));
        (await _f.Burst.GetCurrentStatsAsync()).Backlog.Should().BeGreaterThanOrEqualTo(28, "at most two of the 30 inputs run at once");

        await FunctionCall<string>.FromId(map.Id).CancelAsync();

        (await _f.Burst.GetCurrentStatsAsync()).Backlog.Should().Be(0);
    }

    [Fact]
    public async Task Spawn_returns_a_call_that_can_be_awaited_found_by_id_and_cancelled()
    {
        await fixture.NewAppAsync();

        var call = await _f.Square.SpawnAsync(12);
        (await FunctionCall<int>.FromId(call.Id).GetAsync(TimeSpan.FromSeconds(60))).Should().Be(144);

        var slow = await _f.Sleep.SpawnAsync(30_000);
        var early = () => slow.GetAsync(TimeSpan.FromMilliseconds(200));
        await early.Should().ThrowAsync<TimeoutException>();
        await slow.CancelAsync();
        var cancelled = () => slow.GetAsync(TimeSpan.FromSeconds(30));
        await cancelled.Should().ThrowAsync<InputCancelledException>();

        var map = await _f.Square.SpawnMapAsync(Enumerable.Range(0, 20));
        map.Id.Should().StartWith("fc-");
    }

    [Fact]
    public async Task Container_stdout_and_stderr_are_captured_per_function_and_container()
    {
        var appId = await fixture.NewAppAsync();

        (await _f.Print.RemoteAsync("hello logs")).Should().Be(10);

        var client = Ferry.Hosting.FerryContext.Client;
        var seen = new List<Ferry.Protocol.LogEntry>();
        long after = 0;
        while (!(seen.Any(e => e.Text == "out: hello logs") && seen.Any(e => e.Text == "err: hello logs")))
        {
            var batch = await client.SendAsync<object, Ferry.Protocol.LogBatch>(HttpMethod.Get, Ferry.Protocol.Routes.AppLogs(appId, after, TimeSpan.FromSeconds(10)),
                null, null, Ferry.Protocol.ProtocolJsonContext.Default.LogBatch, CancellationToken.None);
            batch.Entries.Should().NotBeEmpty("the log lines must arrive within the long-poll window");
            seen.AddRange(batch.Entries);
            after = batch.Next;
        }
        var stdout = seen.Single(e => e.Text == "out: hello logs");
        stdout.Stream.Should().Be("stdout");
        stdout.Function.Should().Be("print");
        stdout.ContainerId.Should().StartWith("ct-");
        seen.Single(e => e.Text == "err: hello logs").Stream.Should().Be("stderr");
    }
}
