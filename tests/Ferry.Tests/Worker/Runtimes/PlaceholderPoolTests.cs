using FluentAssertions;
using Ferry.Worker.Runtimes.Placeholders;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Worker.Runtimes;

public sealed class PlaceholderPoolTests
{
    private static readonly PlaceholderKind Base = new("base", "base");
    private static readonly PlaceholderKind Built = new("built", "built");
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly List<(PlaceholderKind Kind, CountedPlaceholder Placeholder)> _started = [];

    /// <summary>A placeholder that is ready at once and holds a set amount of memory; it records being retired.</summary>
    private sealed class CountedPlaceholder(long bytes) : IPlaceholder
    {
        public TaskCompletionSource Retired { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Ready { get; } = Task.CompletedTask;

        public bool HasExited => Retired.Task.IsCompleted;

        public long ResidentBytes() => bytes;

        public ValueTask DisposeAsync()
        {
            Retired.TrySetResult();
            return ValueTask.CompletedTask;
        }
    }

    private PlaceholderPool<CountedPlaceholder> Pool(PlaceholderOptions options, long bytes = 1 << 20) =>
        new(options, (kind, _) =>
        {
            var placeholder = new CountedPlaceholder(bytes);
            lock (_started)
            {
                _started.Add((kind, placeholder));
            }
            return Task.FromResult(placeholder);
        }, _clock, null);

    private static async Task SettledAsync(PlaceholderPool<CountedPlaceholder> pool)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await pool.WaitForSettledAsync(timeout.Token);
    }

    private int Started(PlaceholderKind kind)
    {
        lock (_started)
        {
            return _started.Count(s => s.Kind == kind);
        }
    }

    [Fact]
    public async Task TryTake_when_off_returns_nothing_and_starts_nothing()
    {
        await using var pool = Pool(PlaceholderOptions.Off);
        pool.Pin(Base);

        pool.TryTake(Base).Should().BeNull();
        pool.TryTake(Base).Should().BeNull();
        _started.Should().BeEmpty();
    }

    [Fact]
    public async Task Pinned_kind_has_one_ready_at_start_and_an_unused_kind_none()
    {
        await using var pool = Pool(new PlaceholderOptions { MaxCount = 4 });
        pool.Pin(Base);
        await SettledAsync(pool);

        pool.ReadyCount(Base).Should().Be(1);
        Started(Base).Should().Be(1);
        Started(Built).Should().Be(0, "an image gets placeholders only once it has been used");
    }

    [Fact]
    public async Task Kind_grows_with_its_cold_starts_up_to_the_count_bound_and_a_taken_placeholder_leaves_the_pool()
    {
        await using var pool = Pool(new PlaceholderOptions { MaxCount = 3 });
        pool.Pin(Base);
        await SettledAsync(pool);
        var taken = new List<CountedPlaceholder>();
        for (var i = 0; i < 5; i++)
        {
            taken.Add(pool.TryTake(Base)!);
            await SettledAsync(pool);
        }

        taken.Should().OnlyContain(p => p != null).And.OnlyHaveUniqueItems("a placeholder is handed out once");
        pool.ReadyCount(Base).Should().Be(3, "five cold starts in the window ask for five, bounded by three");
        pool.Count.Should().Be(3);
        Started(Base).Should().Be(5 + 3);
    }

    [Fact]
    public async Task Used_kind_gets_placeholders_and_loses_them_when_its_cold_starts_age_out()
    {
        var options = new PlaceholderOptions { MaxCount = 4, RateWindow = TimeSpan.FromMinutes(1) };
        await using var pool = Pool(options);
        pool.TryTake(Built).Should().BeNull("nothing was kept for a kind never used");
        // The first cold start has the pool start one in the background, which this second one may already find.
        var second = pool.TryTake(Built);
        await SettledAsync(pool);
        pool.ReadyCount(Built).Should().Be(2);

        _clock.Advance(options.RateWindow + TimeSpan.FromSeconds(1));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await Task.WhenAll(_started.Where(s => s.Placeholder != second).Select(s => s.Placeholder.Retired.Task)).WaitAsync(timeout.Token);

        pool.ReadyCount(Built).Should().Be(0);
    }

    [Fact]
    public async Task Kind_in_use_gets_one_even_when_a_busier_kind_would_fill_the_count_bound()
    {
        await using var pool = Pool(new PlaceholderOptions { MaxCount = 3 });
        pool.Pin(Base);
        await SettledAsync(pool);
        for (var i = 0; i < 4; i++)
        {
            pool.TryTake(Base);
            await SettledAsync(pool);
        }
        pool.ReadyCount(Base).Should().Be(3, "four recent cold starts ask for four, bounded by three");

        pool.TryTake(Built).Should().BeNull();
        await SettledAsync(pool);

        pool.ReadyCount(Built).Should().Be(1, "a kind in use gets one before any kind gets a second");
        pool.ReadyCount(Base).Should().Be(2);
        pool.Count.Should().Be(3);
    }

    [Fact]
    public async Task Memory_bound_stops_new_placeholders()
    {
        await using var pool = Pool(new PlaceholderOptions { MaxCount = 4, MaxMemoryMiB = 100 }, bytes: 60L << 20);
        pool.TryTake(Built);
        pool.TryTake(Built);
        pool.TryTake(Built);
        await SettledAsync(pool);

        pool.ReadyCount(Built).Should().Be(1, "a second placeholder of 60 MiB would pass the 100 MiB bound");
        Started(Built).Should().Be(1);
    }

    [Fact]
    public void From_reads_the_option_then_the_variable_and_refuses_bad_counts()
    {
        PlaceholderOptions.From(0).Enabled.Should().BeFalse();
        PlaceholderOptions.From(2).MaxCount.Should().Be(2);
        var negative = () => PlaceholderOptions.From(-1);
        negative.Should().Throw<ArgumentException>().WithMessage("*cannot be negative*0 to turn them off*");
    }
}
