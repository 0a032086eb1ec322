using System.Diagnostics;
using FluentAssertions;
using Ferry.Cli;
using Ferry.Server;

namespace Ferry.IntegrationTests;

/// <summary>How the CLI reads the record of the local server it starts on demand.</summary>
public sealed class LocalServerTests
{
    [Fact]
    public async Task A_record_of_a_dead_local_server_is_stale_even_when_its_address_answers()
    {
        await using var home = LocalHome.Create();
        await using var server = await FerryServer.StartAsync(new ServerOptions { DataDir = Path.Combine(home.Root, "data"), Port = 0 });
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await ControlPlane.WriteLocalStateAsync(FerryHome.ServerState, server.Url, timeout.Token);
        using (var exited = Process.Start("true"))
        {
            await exited.WaitForExitAsync(timeout.Token);
            // As after a crash whose replacement already listens on the same port but has not recorded itself yet.
            home.RecordPid(exited.Id);
        }

        var connecting = () => ControlPlane.ConnectAsync(server: null, startLocal: false, timeout.Token);

        (await connecting.Should().ThrowAsync<CliException>()).WithMessage("No Ferry server is running*");
    }
}
