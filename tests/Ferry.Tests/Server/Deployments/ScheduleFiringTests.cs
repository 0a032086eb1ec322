using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server;
using Ferry.Server.Deployments;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.Tests.Server.Deployments;

/// <summary>
/// Schedules of deployed apps on a real server with a SQLite store and a fake clock: each due time fires once, at its
/// instant, and a server that was down through several due times runs the schedule once when it is back.
/// </summary>
public sealed class ScheduleFiringTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 27, 12, 0, 0, TimeSpan.Zero);
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "ferry-sched-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly FakeTimeProvider _clock = new(T0);
    private FerryServer _server = null!;

    public async Task InitializeAsync() => _server = await StartAsync();

    private Task<FerryServer> StartAsync() =>
        FerryServer.StartAsync(new ServerOptions { DataDir = _dataDir, Port = 0, Clock = _clock });

    private static AppDefinition Scheduled(string name, ScheduleSpec schedule, int maxInputs) => new(name,
        [new FunctionDefinition("tick", [], "None", new FunctionSettings { Schedule = schedule, MaxInputs = maxInputs })], []);

    private async Task<string> DeployAsync(string name, ScheduleSpec schedule, int maxInputs = 10) =>
        (await _server.Deployments.DeployAsync(new DeployRequest(name, "bd-test", Scheduled(name, schedule, maxInputs)), CancellationToken.None)).AppId;

    /// <summary>Moves the clock in steps and runs a pass after each, as the server's loop would.</summary>
    private async Task AdvanceAsync(TimeSpan by, TimeSpan step)
    {
        for (var moved = TimeSpan.Zero; moved < by; moved += step)
        {
            _clock.Advance(step);
            await _server.RunDeploymentPassAsync();
        }
    }

    private async Task<List<string>> CallIdsAsync(string appId)
    {
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(_dataDir, "ferry.db")};Mode=ReadOnly;Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT call_id FROM calls WHERE app_id = $app ORDER BY created_at, call_id";
        command.Parameters.AddWithValue("$app", appId);
        await using var reader = await command.ExecuteReaderAsync();
        var ids = new List<string>();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetString(0));
        }
        return ids;
    }

    private static string Due(string app, DateTimeOffset due) => DeploymentService.ScheduledCallId(app, "tick", due);

    [Fact]
    public async Task Period_FiresAtEachDueInstantOnce()
    {
        var appId = await DeployAsync("every-2s", new ScheduleSpec(PeriodSeconds: 2));

        await AdvanceAsync(TimeSpan.FromMilliseconds(1900), TimeSpan.FromMilliseconds(100));
        (await CallIdsAsync(appId)).Should().BeEmpty("nothing is due before 2 s");
        await AdvanceAsync(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(100));
        (await CallIdsAsync(appId)).Should().Equal(Due("every-2s", T0.AddSeconds(2)));
        await _server.RunDeploymentPassAsync();
        await AdvanceAsync(TimeSpan.FromSeconds(4), TimeSpan.FromMilliseconds(100));

        (await CallIdsAsync(appId)).Should().Equal(Due("every-2s", T0.AddSeconds(2)), Due("every-2s", T0.AddSeconds(4)), Due("every-2s", T0.AddSeconds(6)));
    }

    [Fact]
    public async Task Cron_InBerlinAcrossTheSpringDstChange_FiresAtTheRightInstants()
    {
        var appId = await DeployAsync("nightly", new ScheduleSpec(Cron: "30 2 * * *", TimeZone: "Europe/Berlin"));

        await AdvanceAsync(TimeSpan.FromDays(3), TimeSpan.FromMinutes(10));

        (await CallIdsAsync(appId)).Should().Equal(
            Due("nightly", new DateTimeOffset(2026, 3, 28, 1, 30, 0, TimeSpan.Zero)),
            Due("nightly", new DateTimeOffset(2026, 3, 29, 1, 0, 0, TimeSpan.Zero)),
            Due("nightly", new DateTimeOffset(2026, 3, 30, 0, 30, 0, TimeSpan.Zero)));
        _server.Deployments.Schedules().Single(s => s.AppName == "nightly").Should().Be(new ScheduleSummary(
            "nightly", "tick", "cron '30 2 * * *' Europe/Berlin", new DateTimeOffset(2026, 3, 30, 0, 30, 0, TimeSpan.Zero),
            new DateTimeOffset(2026, 3, 31, 0, 30, 0, TimeSpan.Zero), Due("nightly", new DateTimeOffset(2026, 3, 30, 0, 30, 0, TimeSpan.Zero))));
    }

    [Fact]
    public async Task ServerDownThroughThreeDueTimes_RunsOnceOnRecovery()
    {
        var appId = await DeployAsync("recover", new ScheduleSpec(PeriodSeconds: 2));
        await AdvanceAsync(TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(1));
        (await CallIdsAsync(appId)).Should().Equal(Due("recover", T0.AddSeconds(2)), Due("recover", T0.AddSeconds(4)));

        await _server.DisposeAsync();
        _clock.Advance(TimeSpan.FromSeconds(7));
        _server = await StartAsync();
        await _server.RunDeploymentPassAsync();
        await _server.RunDeploymentPassAsync();

        (await CallIdsAsync(appId)).Should().Equal(Due("recover", T0.AddSeconds(2)), Due("recover", T0.AddSeconds(4)), Due("recover", T0.AddSeconds(10)));
    }

    [Fact]
    public async Task ARunStillGoing_SkipsTheNextDueTimeUnlessTheFunctionTakesConcurrentInputs()
    {
        // No worker: a fired run never finishes, so it is still going at the next due time.
        var appId = await DeployAsync("one-at-a-time", new ScheduleSpec(PeriodSeconds: 2), maxInputs: 1);

        await AdvanceAsync(TimeSpan.FromSeconds(6), TimeSpan.FromSeconds(1));

        (await CallIdsAsync(appId)).Should().Equal(Due("one-at-a-time", T0.AddSeconds(2)));
        _server.Deployments.Schedules().Single(s => s.AppName == "one-at-a-time").LastRun.Should().Be(T0.AddSeconds(6));
    }

    [Fact]
    public async Task AnEphemeralApp_NeverFiresItsSchedule()
    {
        var app = await _server.Scheduler.CreateAppAsync(new CreateAppRequest("ephemeral", Definition: Scheduled("ephemeral", new ScheduleSpec(PeriodSeconds: 2), 10)), CancellationToken.None);

        await AdvanceAsync(TimeSpan.FromSeconds(6), TimeSpan.FromSeconds(1));

        (await CallIdsAsync(app.AppId)).Should().BeEmpty();
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
