using FluentAssertions;
using Ferry.TestApp;

namespace Ferry.IntegrationTests;

public sealed class ClassTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static string Journal() => Path.Combine(Path.GetTempPath(), "ferry-journal-" + Guid.NewGuid().ToString("N"));

    private static async Task<string[]> LinesAsync(string file) => File.Exists(file) ? await File.ReadAllLinesAsync(file) : [];

    [Fact]
    public async Task Enter_runs_once_per_container_and_exit_runs_at_scale_down()
    {
        var appId = await fixture.NewAppAsync();
        var journal = Journal();
        var next = fixture.Functions.Counter.With(new { Label = "a", Journal = journal }).Method<int, string>(c => c.Next);

        var results = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            results.Add(await next.RemoteAsync(1));
        }

        var container = results[0].Split(':')[2];
        results.Should().Equal($"a:1:{container}", $"a:2:{container}", $"a:3:{container}");
        // The pool scales down after its 2 s window; the exit hook runs before the process ends.
        await fixture.WaitUntilAsync(() => fixture.Scheduler.PoolsOfApp(appId).Where(p => p.PoolId.StartsWith("Counter@", StringComparison.Ordinal)).All(p => p.Containers.Count == 0));
        (await LinesAsync(journal)).Should().Equal($"enter a {container}", $"exit a {container}");
    }

    [Fact]
    public async Task Enter_hook_that_throws_fails_the_call_once_with_its_error_and_the_users_frames()
    {
        var appId = await fixture.NewAppAsync();
        var predict = fixture.Functions.BrokenModel.Method<string, string>(m => m.Predict);

        var call = () => predict.RemoteAsync("text").WaitAsync(TimeSpan.FromSeconds(90));

        var error = (await call.Should().ThrowAsync<RemoteException>()).Which;
        error.RemoteType.Should().Be("System.IO.DirectoryNotFoundException");
        error.Message.Should().Contain("The enter hook of 'BrokenModel' failed: Could not find a part of the path '/missing/weights.bin'.");
        error.RemoteStackTrace.Should().Contain("at Ferry.TestApp.ModelFiles.Read(String path)").And.Contain("at Ferry.TestApp.BrokenModel.Load()");
        error.RemoteStackTrace.Should().NotContain("at Ferry.ClassRegistration").And.NotContain("at Ferry.Hosting");
        // One container tried, and its failure is told once: not retried into a wall of the same trace.
        var logs = await fixture.LogsAsync(appId);
        logs.Where(l => l.Text == "Container exited: its enter hook failed.").Should().ContainSingle();
        logs.Should().NotContain(l => l.Text.Contains("DirectoryNotFoundException", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Two_parameter_sets_run_in_separate_containers_with_separate_state()
    {
        await fixture.NewAppAsync();
        var a = fixture.Functions.Counter.With(new { Label = "a" }).Method<int, string>(c => c.Next);
        var b = fixture.Functions.Counter.With(new { Label = "b" }).Method<int, string>(c => c.Next);

        var a1 = await a.RemoteAsync(1);
        var b1 = await b.RemoteAsync(10);
        var a2 = await a.RemoteAsync(1);

        a1.Should().StartWith("a:1:");
        b1.Should().StartWith("b:10:");
        a2.Should().StartWith("a:2:");
        a1.Split(':')[2].Should().Be(a2.Split(':')[2]).And.NotBe(b1.Split(':')[2]);
    }

    [Fact]
    public async Task Four_slow_calls_overlap_in_one_container_and_a_fifth_starts_a_second()
    {
        var appId = await fixture.NewAppAsync();
        var hold = fixture.Functions.Counter.WithConcurrency(maxInputs: 4).Method(c => c.HoldAtGate);

        var first = await HeldTogetherAsync(hold, 4);
        first.Distinct().Should().ContainSingle("four inputs fit one container with MaxInputs 4");

        var five = await HeldTogetherAsync(hold, 5);
        five.Distinct().Should().HaveCount(2, "the fifth concurrent input needs a second container");
        five.GroupBy(c => c).Select(g => g.Count()).Should().BeEquivalentTo([4, 1]);
    }

    /// <summary>
    /// Makes <paramref name="count"/> calls that each wait at one gate, lets them go only once all of them are running
    /// at the same time, and returns their container ids.
    /// </summary>
    private static async Task<string[]> HeldTogetherAsync(Function<string, string> hold, int count)
    {
        using var gate = new System.Net.Sockets.TcpListener(ExecutionCounter.PrimaryAddress(), 0);
        gate.Start();
        var endpoint = (System.Net.IPEndPoint)gate.LocalEndpoint;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var calls = Enumerable.Range(0, count).Select(_ => hold.RemoteAsync($"{endpoint.Address}:{endpoint.Port}", timeout.Token)).ToList();
        var held = new List<System.Net.Sockets.TcpClient>();
        try
        {
            while (held.Count < count)
            {
                held.Add(await gate.AcceptTcpClientAsync(timeout.Token));
            }
        }
        finally
        {
            held.ForEach(c => c.Dispose());
        }
        return await Task.WhenAll(calls);
    }

    [Fact]
    public async Task Stats_of_a_variant_match_what_is_running()
    {
        await fixture.NewAppAsync();
        var hold = fixture.Functions.Counter.With(new { Label = "stats" }).WithConcurrency(maxInputs: 2).Method<int, string>(c => c.Hold);
        await hold.RemoteAsync(0);

        var calls = Enumerable.Range(0, 2).Select(_ => hold.RemoteAsync(3_000)).ToList();
        await fixture.WaitUntilAsync(() => fixture.Scheduler.PoolsOfApp(Ferry.Hosting.FerryContext.Client.AppId)
            .Any(p => p.PoolId.StartsWith("Counter@", StringComparison.Ordinal) && p.Containers.Values.Sum(c => c.StartedCount) == 2));
        var stats = await hold.GetCurrentStatsAsync();

        stats.Should().BeEquivalentTo(new Ferry.Protocol.FunctionStats(Backlog: 0, Containers: 1, RunningInputs: 2, IdleContainers: 0));
        await Task.WhenAll(calls);
    }

    [Fact]
    public async Task Update_autoscaler_min_containers_brings_containers_up_without_traffic()
    {
        var appId = await fixture.NewAppAsync();
        var next = fixture.Functions.Counter.With(new { Label = "warm" }).Method<int, string>(c => c.Next);

        var settings = await next.UpdateAutoscalerAsync(minContainers: 2);

        settings.MinContainers.Should().Be(2);
        await fixture.WaitUntilAsync(() => fixture.Scheduler.PoolsOfApp(appId)
            .Any(p => p.PoolId.StartsWith("Counter@", StringComparison.Ordinal) && p.Containers.Values.Count(c => c.Status == Ferry.Server.Scheduling.ContainerStatus.Ready) == 2));
        (await next.GetCurrentStatsAsync()).Containers.Should().Be(2);
    }
}

public sealed class BatchingTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task Per_item_calls_arrive_in_batches_of_the_configured_size_and_answer_in_order()
    {
        await fixture.NewAppAsync();
        var embed = fixture.Functions.Embedder.BatchedMethod<string, string>(e => e.Embed);

        var results = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => embed.RemoteAsync($"item{i}")));

        results.Select(r => r.Split('/')[0]).Should().Equal(Enumerable.Range(0, 10).Select(i => $"item{i}"));
        results.Select(r => int.Parse(r.Split('/')[1], System.Globalization.CultureInfo.InvariantCulture)).Order()
            .Should().Equal(2, 2, 4, 4, 4, 4, 4, 4, 4, 4);
    }

    [Fact]
    public async Task A_plain_function_batches_the_same_way()
    {
        await fixture.NewAppAsync();

        var results = await Task.WhenAll(Enumerable.Range(0, 7).Select(i => fixture.Functions.Lengths.RemoteAsync($"x{i}")));

        results.Select(r => r.Split('/')[0]).Should().Equal(Enumerable.Range(0, 7).Select(i => $"x{i}"));
        results.Select(r => r.Split('/')[1]).Order().Should().Equal("1", "3", "3", "3", "3", "3", "3");
    }

    [Fact]
    public async Task A_result_list_of_the_wrong_length_fails_every_input_of_the_batch()
    {
        await fixture.NewAppAsync();
        var lengths = fixture.Functions.ShortBatch.BatchedMethod<string, int>(s => s.Lengths);

        var outcomes = new List<Outcome<int>>();
        await foreach (var outcome in lengths.MapOutcomesAsync(["a", "b", "c"]))
        {
            outcomes.Add(outcome);
        }

        outcomes.Should().HaveCount(3).And.OnlyContain(o => !o.IsSuccess);
        outcomes[0].Exception.Should().BeOfType<RemoteException>().Which.RemoteMessage.Should().Contain("returned 1 results for 3 inputs");
    }
}

public sealed class ClassDefinitionTests
{
    private sealed class NotAList
    {
        [Method]
        [Batched(4, 10)]
        public string Embed(string item) => item;
    }

    [Fact]
    public void A_batched_method_that_is_not_list_in_list_out_is_rejected_naming_it()
    {
        var act = () => new App("x").Cls<NotAList>();

        act.Should().Throw<InvalidRequestException>().WithMessage("*NotAList.Embed*List<TItem>*");
    }

    private sealed class TwoEnters
    {
        [Enter]
        public void A()
        {
        }

        [Enter]
        public void B()
        {
        }

        [Method]
        public int M() => 1;
    }

    private sealed class BadParameter
    {
        [Parameter]
        public double Ratio { get; set; }

        [Method]
        public int M() => 1;
    }

    private sealed class Required
    {
        [Parameter]
        public required string Name { get; set; }

        [Method]
        public string Hello() => Name;
    }

    private sealed class NoParameters
    {
        [Method]
        public int M() => 1;
    }

    [Fact]
    public void Two_enter_hooks_of_one_kind_are_rejected_naming_them()
    {
        var act = () => new App("x").Cls<TwoEnters>();

        act.Should().Throw<InvalidRequestException>().WithMessage("*TwoEnters*[Enter]*A, B*");
    }

    [Fact]
    public void An_unsupported_parameter_type_is_rejected_naming_the_member()
    {
        var act = () => new App("x").Cls<BadParameter>();

        act.Should().Throw<InvalidRequestException>().WithMessage("*BadParameter.Ratio*string, int, bool or byte[]*");
    }

    [Fact]
    public void A_missing_required_parameter_is_rejected_at_the_call_site()
    {
        var cls = new App("x").Cls<Required>();

        var act = () => cls.Method<string>(c => c.Hello);

        act.Should().Throw<InvalidRequestException>().WithMessage("*Required.Name*required*");
    }

    [Fact]
    public void Unknown_and_oversized_parameters_are_rejected()
    {
        var cls = new App("x").Cls<Required>();

        var unknown = () => cls.With(new { Nome = "x" });
        var big = () => cls.With(new { Name = new string('x', 20_000) });

        unknown.Should().Throw<InvalidRequestException>().WithMessage("*no parameter 'Nome'*Name*");
        big.Should().Throw<InvalidRequestException>().WithMessage("*16 KiB*");
    }

    [Fact]
    public void A_method_not_marked_is_rejected()
    {
        var cls = new App("x").Cls<NoParameters>();

        var act = () => cls.Method<int>(c => c.GetHashCode);

        act.Should().Throw<InvalidRequestException>().WithMessage("*not marked [Method]*");
    }
}
