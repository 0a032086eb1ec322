using System.Threading.Channels;
using FluentAssertions;
using Ferry.Server;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Server;

public sealed class PeriodicPassTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_pass_now_runs_at_start_and_then_once_per_tick_of_the_clock()
    {
        var clock = new FakeTimeProvider();
        var passes = Channel.CreateUnbounded<DateTimeOffset>();
        await using var loop = new PeriodicPass(Interval, clock, _ => { passes.Writer.TryWrite(clock.GetUtcNow()); return Task.CompletedTask; }, _ => { });
        var start = clock.GetUtcNow();

        loop.Start(passNow: true);
        var first = await passes.Reader.ReadAsync().AsTask().WaitAsync(Wait);
        clock.Advance(Interval);
        var second = await passes.Reader.ReadAsync().AsTask().WaitAsync(Wait);

        first.Should().Be(start);
        second.Should().Be(start + Interval);
        passes.Reader.TryRead(out _).Should().BeFalse("one tick gives one pass");
    }

    [Fact]
    public async Task Without_a_pass_now_the_first_pass_waits_for_the_first_tick()
    {
        var clock = new FakeTimeProvider();
        var passes = Channel.CreateUnbounded<DateTimeOffset>();
        await using var loop = new PeriodicPass(Interval, clock, _ => { passes.Writer.TryWrite(clock.GetUtcNow()); return Task.CompletedTask; }, _ => { });
        var start = clock.GetUtcNow();

        loop.Start(passNow: false);
        passes.Reader.TryRead(out _).Should().BeFalse();
        clock.Advance(Interval);

        (await passes.Reader.ReadAsync().AsTask().WaitAsync(Wait)).Should().Be(start + Interval);
    }

    [Fact]
    public async Task A_pass_that_throws_is_reported_and_the_next_tick_runs_again()
    {
        var clock = new FakeTimeProvider();
        var failures = Channel.CreateUnbounded<Exception>();
        var passes = 0;
        await using var loop = new PeriodicPass(
            Interval,
            clock,
            _ => Interlocked.Increment(ref passes) == 1 ? throw new InvalidOperationException("first") : Task.FromException(new TimeoutException("second")),
            e => failures.Writer.TryWrite(e));

        loop.Start(passNow: true);
        var first = await failures.Reader.ReadAsync().AsTask().WaitAsync(Wait);
        clock.Advance(Interval);
        var second = await failures.Reader.ReadAsync().AsTask().WaitAsync(Wait);

        first.Should().BeOfType<InvalidOperationException>().Which.Message.Should().Be("first");
        second.Should().BeOfType<TimeoutException>().Which.Message.Should().Be("second");
    }

    [Fact]
    public async Task Disposing_cancels_the_pass_in_progress_waits_for_it_and_reports_no_failure()
    {
        var clock = new FakeTimeProvider();
        var entered = new TaskCompletionSource();
        var failed = false;
        var loop = new PeriodicPass(Interval, clock, async token =>
        {
            entered.TrySetResult();
            await Task.Delay(Timeout.InfiniteTimeSpan, token);
        }, _ => failed = true);

        loop.Start(passNow: true);
        await entered.Task.WaitAsync(Wait);
        await loop.DisposeAsync().AsTask().WaitAsync(Wait);
        await loop.DisposeAsync();

        failed.Should().BeFalse();
    }
}
