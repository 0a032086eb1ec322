using FluentAssertions;
using Ferry.Server.Scheduling;

namespace Ferry.IntegrationTests;

/// <summary>A server that keeps only a small window of each pool's queued inputs, and of each call's outputs, in memory, on SQLite.</summary>
public sealed class SmallBacklogFixture : ServerFixture
{
    protected override SchedulerOptions SchedulerOptions => new() { BacklogWindow = BacklogWindowScenarios.Window, OutputWindow = BacklogWindowScenarios.Window };
}

/// <summary>A server that keeps only a small window of each pool's queued inputs, and of each call's outputs, in memory, on PostgreSQL.</summary>
public sealed class SmallBacklogPostgresFixture : PostgresServerFixture
{
    protected override SchedulerOptions SchedulerOptions => new() { BacklogWindow = BacklogWindowScenarios.Window, OutputWindow = BacklogWindowScenarios.Window };
}

/// <summary>
/// Maps many times larger than the windows kept in memory: the queued inputs beyond the pool's window wait in the store
/// and are read back in order as the window drains, before and after a restart; the outputs beyond the call's window
/// are read from the store by a reader behind them.
/// </summary>
internal static class BacklogWindowScenarios
{
    public const int Window = 40;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);

    public static async Task MapReturnsEveryResultInOrderAsync(ServerFixture fixture)
    {
        var appId = await fixture.NewAppAsync();
        using var timeout = new CancellationTokenSource(Limit);
        using var stopWatching = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token);
        // Looked at under the scheduler's lock after every change, such as each batch of inputs accepted.
        var peak = 0;
        var watching = fixture.Scheduler.WaitUntilAsync(() =>
        {
            peak = Math.Max(peak, fixture.Scheduler.PoolsOfApp(appId).Sum(p => p.Ready.Count));
            return false;
        }, stopWatching.Token);
        var squares = new List<int>();
        await foreach (var square in fixture.Functions.Square.MapAsync(Enumerable.Range(0, 3_000)).WithCancellation(timeout.Token))
        {
            squares.Add(square);
        }
        await stopWatching.CancelAsync();
        await watching.Invoking(w => w).Should().ThrowAsync<OperationCanceledException>();

        squares.Should().Equal(Enumerable.Range(0, 3_000).Select(x => x * x));
        peak.Should().BeInRange(1, Window, "no more than the window of queued inputs is held in memory");
    }

    public static async Task SpawnMapReadAfterItEndsGivesEveryOutputOnceAsync(ServerFixture fixture)
    {
        await fixture.NewAppAsync();
        using var timeout = new CancellationTokenSource(Limit);
        const int Count = 1_000;
        var map = await fixture.Functions.Square.SpawnMapAsync(Enumerable.Range(0, Count), timeout.Token);
        var call = await fixture.Scheduler.GetCallAsync(map.Id, timeout.Token);
        await fixture.Scheduler.WaitUntilAsync(() => call.IsDone, timeout.Token);

        call.Outputs.Count.Should().BeLessThanOrEqualTo(Window, "the call, still in memory, keeps only its latest outputs");
        call.OutputsBefore.Should().BeGreaterThan(0);
        (await map.GetStatsAsync(timeout.Token)).Should().Be(new Ferry.FunctionCallStats(Succeeded: Count, Failed: 0, Pending: 0, AllSubmitted: true));
        var outcomes = new List<Ferry.Outcome<int>>();
        await foreach (var outcome in map.IterateOutcomesAsync(timeout.Token))
        {
            outcomes.Add(outcome);
        }

        outcomes.Select(o => o.Index).Order().Should().Equal(Enumerable.Range(0, Count), "every output once: from the store, then from memory");
        outcomes.Should().OnlyContain(o => o.IsSuccess && o.Value == o.Index * o.Index);
    }

    public static async Task CancelledSpawnMapEndsTheInputsWaitingInTheStoreAsync(ServerFixture fixture)
    {
        await fixture.NewAppAsync();
        using var timeout = new CancellationTokenSource(Limit);
        const int Count = 400;
        var map = await fixture.Functions.Sleep.SpawnMapAsync(Enumerable.Repeat(50, Count), timeout.Token);

        await map.CancelAsync(timeout.Token);
        var outcomes = new List<Ferry.Outcome<string>>();
        await foreach (var outcome in map.IterateOutcomesAsync(timeout.Token))
        {
            outcomes.Add(outcome);
        }

        outcomes.Select(o => o.Index).Order().Should().Equal(Enumerable.Range(0, Count), "the inputs that waited in the store end too, cancelled");
        var stats = await map.GetStatsAsync(timeout.Token);
        (stats.Pending, stats.Succeeded + stats.Failed).Should().Be((0, Count));
    }

    public static async Task SpawnMapOutlivesARestartWithMostInputsInTheStoreAsync(ServerFixture fixture)
    {
        await fixture.NewAppAsync();
        using var timeout = new CancellationTokenSource(Limit);
        const int Count = 400;
        var map = await fixture.Functions.Sleep.SpawnMapAsync(Enumerable.Repeat(20, Count), timeout.Token);

        await fixture.RestartServerAsync();
        var outcomes = new List<Ferry.Outcome<string>>();
        await foreach (var outcome in Ferry.FunctionCallMap<string>.FromId(map.Id).IterateOutcomesAsync(timeout.Token))
        {
            outcomes.Add(outcome);
        }

        outcomes.Select(o => o.Index).Should().Equal(Enumerable.Range(0, Count), "every accepted input has exactly one outcome");
        outcomes.Should().OnlyContain(o => o.IsSuccess);
        (await map.GetStatsAsync(timeout.Token)).Should().Be(new Ferry.FunctionCallStats(Succeeded: Count, Failed: 0, Pending: 0, AllSubmitted: true));
    }
}

public sealed class BacklogWindowTests(SmallBacklogFixture fixture) : IClassFixture<SmallBacklogFixture>
{
    [Fact]
    public Task Map_ManyTimesTheWindow_ReturnsEveryResultInOrderWithTheWindowInMemory() =>
        BacklogWindowScenarios.MapReturnsEveryResultInOrderAsync(fixture);

    [Fact]
    public Task SpawnMap_ReadAfterItEnds_GivesEveryOutputOnceFromTheStoreThenMemory() =>
        BacklogWindowScenarios.SpawnMapReadAfterItEndsGivesEveryOutputOnceAsync(fixture);

    [Fact]
    public Task SpawnMap_CancelledWhileMostInputsWaitInTheStore_EveryInputEnds() =>
        BacklogWindowScenarios.CancelledSpawnMapEndsTheInputsWaitingInTheStoreAsync(fixture);

    [Fact]
    public Task SpawnMap_RestartWhileMostInputsWaitInTheStore_EveryInputHasOneOutcome() =>
        BacklogWindowScenarios.SpawnMapOutlivesARestartWithMostInputsInTheStoreAsync(fixture);
}

public sealed class BacklogWindowPostgresTests(SmallBacklogPostgresFixture fixture) : IClassFixture<SmallBacklogPostgresFixture>
{
    [PostgresFact]
    public Task Map_ManyTimesTheWindow_ReturnsEveryResultInOrderWithTheWindowInMemory() =>
        BacklogWindowScenarios.MapReturnsEveryResultInOrderAsync(fixture);

    [PostgresFact]
    public Task SpawnMap_ReadAfterItEnds_GivesEveryOutputOnceFromTheStoreThenMemory() =>
        BacklogWindowScenarios.SpawnMapReadAfterItEndsGivesEveryOutputOnceAsync(fixture);

    [PostgresFact]
    public Task SpawnMap_CancelledWhileMostInputsWaitInTheStore_EveryInputEnds() =>
        BacklogWindowScenarios.CancelledSpawnMapEndsTheInputsWaitingInTheStoreAsync(fixture);

    [PostgresFact]
    public Task SpawnMap_RestartWhileMostInputsWaitInTheStore_EveryInputHasOneOutcome() =>
        BacklogWindowScenarios.SpawnMapOutlivesARestartWithMostInputsInTheStoreAsync(fixture);
}
