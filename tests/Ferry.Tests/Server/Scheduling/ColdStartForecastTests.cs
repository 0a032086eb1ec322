using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Ferry.Server.Workers;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Scheduling;

public sealed class ColdStartForecastTests
{
    private static readonly TimeSpan Cold = TimeSpan.FromSeconds(3);

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    public static TheoryData<string, int, int, int, double[], double?, double, int> Cases => new()
    {
        { "no work", 0, 1, 0, [], null, 0, 0 },
        { "a cold pool, run time unknown: one container to learn it", 5, 1, 0, [], null, 0, 1 },
        { "one starting, run time unknown: wait for it", 5, 1, 0, [2000], null, 0, 0 },
        { "one ready, nothing run yet: wait for the first input", 5, 1, 1, [], null, 0, 0 },
        { "fast inputs, one ready: it drains them long before another could be ready", 5, 1, 1, [], 10, 5, 0 },
        { "fast inputs known from before, a cold pool: one is enough", 5, 1, 0, [], 10, 0, 1 },
        { "slow inputs known from before, a cold pool: scale out at once", 20, 1, 0, [], 2000, 0, 14 },
        { "an input has run 1 s of a 20-input map: more containers help", 20, 1, 1, [], null, 1000, 5 },
        { "an input has run 100 ms: the ready one may well drain the rest", 20, 1, 1, [], null, 100, 0 },
        { "slow inputs with two already starting: only the rest", 20, 1, 1, [500, 500], 2000, 500, 8 },
        { "long inputs, four slots per container: one per four inputs left", 40, 4, 1, [], 6000, 6000, 9 },
        { "never more than one container per slot of work", 3, 1, 0, [], 300000, 0, 3 },
        { "work the ready ones finish before a new one is ready", 6, 1, 2, [], 1000, 500, 0 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void WorthStarting_Forecast_StartsOnlyContainersReadyBeforeTheWorkIsDone(
        string scenario, int work, int slots, int ready, double[] startingReadyInMs, double? runMs, double longestRunningMs, int expected)
    {
        var forecast = new ScaleForecast(work, slots, ready, [.. startingReadyInMs.Select(Ms)], Cold, runMs is { } run ? Ms(run) : null, Ms(longestRunningMs));

        PoolScaler.WorthStarting(forecast).Should().Be(expected, scenario);
    }

    [Fact]
    public void PoolTimings_Measurements_AreAMovingAverage()
    {
        var timings = new PoolTimings();
        timings.ColdStart.Should().BeNull();

        timings.ObserveColdStart(Ms(1000));
        timings.ObserveColdStart(Ms(2000));
        timings.ObserveRun(Ms(100));

        timings.ColdStart.Should().Be(Ms(1300));
        timings.RunTime.Should().Be(Ms(100));
    }

    private sealed class NullPeer : IPeer<WorkerMessage>
    {
        public bool Send(WorkerMessage message) => true;

        public void Close()
        {
        }
    }

    [Fact]
    public void Plan_FiveFastInputsOnAColdPool_StartsOneContainerThenNoMore()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var settings = new FunctionSettings();
        var function = new FunctionDefinition("f", [], "int", settings);
        var app = new AppState(new AppRecord("ap-1", "app", "bd-1", AppStates.Running, false, DateTimeOffset.UnixEpoch, null, new AppDefinition("app", [function], [])));
        var pool = new PoolState("f", app, function, settings, null);
        var call = new CallState(new CallRecord("fc-1", "ap-1", "f", "f", "map", DateTimeOffset.UnixEpoch, true, null), pool);
        for (var i = 0; i < 5; i++)
        {
            pool.Ready.AddLast(new InputState(i + 1, call, i, null, null) { Status = InputStatus.Queued });
        }
        var scaler = new PoolScaler(clock);

        scaler.Plan(pool).ToStart.Should().Be(1, "nothing is known of the function yet");

        var worker = new WorkerState("w", "w", "process", new WorkerResources(8, 16384, [], 16), new NullPeer());
        pool.Containers["ct-1"] = new ContainerState("ct-1", "secret", pool, worker, new Reservation(0, 0, []), clock.GetUtcNow());
        clock.Advance(TimeSpan.FromSeconds(1));
        scaler.Plan(pool).ToStart.Should().Be(0, "the starting container will show how long an input takes");

        scaler.TimingsOf(pool).ObserveRun(Ms(20));
        scaler.Plan(pool).ToStart.Should().Be(0, "at 20 ms an input, it finishes the five soon after it is ready");
    }
}
