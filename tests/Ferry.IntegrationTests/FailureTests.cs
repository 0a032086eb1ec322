using FluentAssertions;

namespace Ferry.IntegrationTests;

public sealed class FailureTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private readonly Ferry.TestApp.TestFunctions _f = fixture.Functions;

    [Fact]
    public async Task A_remote_exception_carries_its_type_message_and_remote_stack_trace()
    {
        await fixture.NewAppAsync();

        var act = () => _f.Fail.RemoteAsync("boom");

        var error = (await act.Should().ThrowAsync<RemoteException>()).Which;
        error.RemoteType.Should().Be("System.InvalidOperationException");
        error.RemoteMessage.Should().Be("boom");
        error.RemoteStackTrace.Should().Contain("TestFunctions.Throw");
        error.Message.Should().Contain("fail").And.Contain("boom");
    }

    [Fact]
    public async Task A_remote_exceptions_inner_exceptions_reach_the_caller_as_its_inner_exceptions()
    {
        await fixture.NewAppAsync();

        var act = () => _f.FailNested.RemoteAsync("disk full");

        var error = (await act.Should().ThrowAsync<RemoteException>()).Which;
        error.RemoteType.Should().Be("System.InvalidOperationException");
        var middle = error.InnerException.Should().BeOfType<RemoteException>().Which;
        middle.RemoteType.Should().Be("System.Net.Http.HttpRequestException");
        middle.RemoteMessage.Should().Be("upload failed");
        var inner = middle.InnerException.Should().BeOfType<RemoteException>().Which;
        inner.RemoteType.Should().Be("System.IO.IOException");
        inner.RemoteMessage.Should().Be("disk full");
        inner.InnerException.Should().BeNull();
        error.ToString().Should().Contain("--- caused by ---").And.Contain("System.IO.IOException: disk full");
    }

    [Fact]
    public async Task A_remote_aggregate_exception_reaches_the_caller_with_every_child_and_its_types_can_be_matched()
    {
        await fixture.NewAppAsync();

        var act = () => _f.FailMany.RemoteAsync("a.txt");

        var error = (await act.Should().ThrowAsync<RemoteException>()).Which;
        error.RemoteType.Should().Be("System.AggregateException");
        error.Is<AggregateException>().Should().BeTrue();
        error.InnerExceptions.Select(e => (e.RemoteType, e.RemoteMessage)).Should().Equal(
            ("System.IO.FileNotFoundException", "a.txt"),
            ("System.TimeoutException", "too slow"));
        error.InnerException.Should().BeSameAs(error.InnerExceptions[0]);
        error.InnerExceptions[0].Is<IOException>().Should().BeTrue("a FileNotFoundException is an IOException");
        error.InnerExceptions[0].Is<TimeoutException>().Should().BeFalse();
        error.InnerExceptions[0].InnerExceptions.Should().ContainSingle().Which.RemoteMessage.Should().Be("disk gone");
        error.Find<TimeoutException>()!.RemoteMessage.Should().Be("too slow");
        error.Find<UnauthorizedAccessException>().Should().BeNull();
        error.ToString().Should().Contain("--- caused by (2 of 2) ---").And.Contain("System.TimeoutException: too slow").And.Contain("System.IO.IOException: disk gone");
    }

    [Fact]
    public async Task An_input_no_worker_can_ever_take_fails_naming_what_it_asked_and_what_the_workers_have()
    {
        var appId = await fixture.NewAppAsync();

        var act = () => _f.GpuHold.RemoteAsync(0).WaitAsync(TimeSpan.FromSeconds(60));

        var error = (await act.Should().ThrowAsync<ResourcesUnavailableException>()).Which;
        error.Message.Should().StartWith("gpu_hold: No worker can run 'gpu_hold': no connected worker offers GPU A10G")
            .And.Contain(" cores, ").And.EndWith("no GPUs).");
        fixture.Pool(appId, "gpu_hold").Containers.Should().BeEmpty();
    }

    [Fact]
    public async Task A_function_past_its_timeout_is_killed_and_reported_as_a_timeout()
    {
        var appId = await fixture.NewAppAsync();
        var first = await _f.Slow.RemoteAsync(0);

        var act = () => _f.Slow.RemoteAsync(60_000);

        await act.Should().ThrowAsync<FunctionTimeoutException>().WithMessage("*timeout of 1 s*");
        await fixture.WaitUntilAsync(() => !fixture.Pool(appId, "slow").Containers.ContainsKey(first));
    }

    [Fact]
    public async Task Retries_follow_their_backoff_and_then_succeed()
    {
        await fixture.NewAppAsync();
        var file = Path.Combine(Path.GetTempPath(), "ferry-flaky-" + Guid.NewGuid().ToString("N"));

        var attempts = await _f.Flaky.RemoteAsync(file, 2);

        attempts.Should().Be(3);
        var times = File.ReadAllLines(file).Select(long.Parse).ToList();
        times.Should().HaveCount(3);
        // Initial delay 300 ms, coefficient 2: the retries wait at least 300 ms and then 600 ms.
        (times[1] - times[0]).Should().BeGreaterThanOrEqualTo(300);
        (times[2] - times[1]).Should().BeGreaterThanOrEqualTo(600);
    }

    [Fact]
    public async Task Retries_that_run_out_surface_the_last_error()
    {
        await fixture.NewAppAsync();
        var file = Path.Combine(Path.GetTempPath(), "ferry-flaky-" + Guid.NewGuid().ToString("N"));

        var act = () => _f.Flaky.RemoteAsync(file, 10);

        (await act.Should().ThrowAsync<RemoteException>()).Which.RemoteMessage.Should().Be("attempt 4 failed");
        File.ReadAllLines(file).Should().HaveCount(4, "one attempt and three retries");
    }

    [Fact]
    public async Task An_input_whose_container_crashes_is_retried_on_a_new_container()
    {
        await fixture.NewAppAsync();
        var marker = Path.Combine(Path.GetTempPath(), "ferry-crash-" + Guid.NewGuid().ToString("N"));

        (await _f.CrashOnce.RemoteAsync(marker)).Should().Be("survived");
    }

    [Fact]
    public async Task A_container_that_always_crashes_fails_the_input_with_a_clear_error()
    {
        await fixture.NewAppAsync();

        var act = () => _f.AlwaysCrash.RemoteAsync(1);

        (await act.Should().ThrowAsync<ContainerCrashedException>()).Which.Message.Should().Contain("exit code 13");
    }
}
