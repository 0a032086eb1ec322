using FluentAssertions;
using Ferry.Cli.Commands;
using Ferry.Client;

namespace Ferry.IntegrationTests;

/// <summary>How <c>ferry run</c> ends a run: the app's exit hooks get to print before the command returns.</summary>
public sealed class RunCommandTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Ending_a_run_shows_what_exit_hooks_print_and_leaves_no_container()
    {
        var appId = await fixture.NewAppAsync();
        var label = "hooked-" + Guid.NewGuid().ToString("N")[..6];
        await fixture.Functions.Counter.With(new { Label = label }).Method<int, string>(c => c.Next).RemoteAsync(1).WaitAsync(Limit);
        using var client = new FerryClient(fixture.Url, fixture.AdminToken, fingerprint: fixture.Fingerprint);
        var logs = new LogFollower(client, appId);
        var printed = new StringWriter();
        var stdout = Console.Out;
        Console.SetOut(TextWriter.Synchronized(printed));
        try
        {
            await RunCommand.FinishAsync(client, appId, logs, detach: false).WaitAsync(Limit);
        }
        finally
        {
            Console.SetOut(stdout);
        }

        printed.ToString().Should().Contain($"closing {label}", "the exit hook's output is shown before the run returns");
        fixture.Scheduler.ListContainers(appId).Should().BeEmpty();
    }
}
