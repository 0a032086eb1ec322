using FluentAssertions;
using Ferry.Worker.Runtimes.Placeholders;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Worker.Runtimes;

public sealed class PlaceholderPoolTests
{
    private static readonly PlaceholderKind Base = new("base", "base", "base");
    private static readonly PlaceholderKind Built = new("built", "built", "built");

    // The default placeholder's settings, and a program's that they can run (as `ferry run` builds one) or cannot.
    private static readonly PlaceholderKind Default = Kind(PlaceholderFilesTests.Default);
    private static readonly PlaceholderKind RunFile = Kind(PlaceholderFilesTests.RunFile) with { Host = Default };
    private static readonly PlaceholderKind NeedsMore = Kind(PlaceholderFilesTests.Default.Replace("\"System.Globalization.Invariant\":true", "\"System.Globalization.Invariant\":false",
        StringComparison.Ordinal)) with { Host = Default };

    private static PlaceholderKind Kind(string runtimeConfig)
    {
        var key = PlaceholderFilesTests.Key(runtimeConfig);
        return new PlaceholderKind(key, key, key);
    }
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

    private PlaceholderKind KindStarted(CountedPlaceholder placeholder)
    {
        lock (_started)
        {
            return _started.Single(s => s.Placeholder == placeholder).Kind;
        }
    }

    [Fact]
    public void Host_is_kept_only_when_its_settings_can_run_the_kinds_programs()
    {
        RunFile.Host.Should().Be(Default, "the default placeholder has every framework a `ferry run` program uses");
        NeedsMore.Host.Should().BeNull("a program with another runtime setting cannot run in the default placeholder");
        (Default with { Host = Default }).Host.Should().BeNull("a kind is not its own host");
    }

    [Fact]
    public async Task TryTake_takes_its_own_kind_before_its_host()
    {
        await using var pool = Pool(new PlaceholderOptions { MaxCount = 4 });
        pool.Pin(Default);
        pool.Pin(RunFile);
        await SettledAsync(pool);

        var taken = pool.TryTake(RunFile);

        taken.Should().NotBeNull();
        KindStarted(taken!).Should().Be(RunFile);
        pool.ReadyCount(Default).Should().Be(1, "the host's placeholder stays for the programs only it can run");
    }

    [Fact]
    public async Task TryTake_without_one_of_its_own_takes_a_compatible_hosts_and_counts_towards_the_host()
    {
        await using var pool = Pool(new PlaceholderOptions { MaxCount = 4 });
        pool.Pin(Default);
        await SettledAsync(pool);

        var first = pool.TryTake(RunFile);
        await SettledAsync(pool);
        var second = pool.TryTake(RunFile);
        await SettledAsync(pool);

        first.Should().NotBeNull();
        KindStarted(first!).Should().Be(Default);
        second.Should().NotBeNull().And.NotBeSameAs(first);
        KindStarted(second!).Should().Be(Default);
        Started(RunFile).Should().Be(0, "the cold starts a host serves grow the host's placeholders, not a kind of their own");
        pool.ReadyCount(Default).Should().Be(2, "two cold starts in the window ask for two of the host");
        pool.Taken.Should().Be(2);
    }

    [Fact]
    public async Task TryTake_never_takes_a_default_placeholder_that_cannot_run_the_program()
    {
        await using var pool = Pool(new PlaceholderOptions { MaxCount = 4 });
        pool.Pin(Default);
        await SettledAsync(pool);

        pool.TryTake(NeedsMore).Should().BeNull();
        await SettledAsync(pool);
        pool.ReadyCount(Default).Should().Be(1);
        pool.ReadyCount(NeedsMore).Should().Be(1, "its cold start asks for placeholders of its own kind");
        var own = pool.TryTake(NeedsMore);

        own.Should().NotBeNull();
        KindStarted(own!).Should().Be(NeedsMore);
        pool.ReadyCount(Default).Should().Be(1);
        pool.Taken.Should().Be(1);
    }

    [Fact]
    public async Task TryTake_hands_out_each_placeholder_once_whichever_kind_asks()
    {
        await using var pool = Pool(new PlaceholderOptions { MaxCount = 4 });
        pool.Pin(Default);
        await SettledAsync(pool);
        var taken = new List<CountedPlaceholder>();
        foreach (var kind in new[] { RunFile, Default, RunFile, Default, RunFile, RunFile })
        {
            taken.Add(pool.TryTake(kind)!);
            await SettledAsync(pool);
        }

        taken.Should().OnlyContain(p => p != null).And.OnlyHaveUniqueItems("a placeholder becomes one container, of one app, and leaves the pool");
        pool.Taken.Should().Be(6);
        taken.Should().OnlyContain(p => !p.Retired.Task.IsCompleted, "a placeholder handed out is the container's, and the pool never retires it");
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
