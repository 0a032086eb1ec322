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

    [Fact]
    public async Task The_local_server_started_on_demand_gets_the_servers_runtime_settings()
    {
        await using var home = LocalHome.Create();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));

        using var local = await ControlPlane.ConnectAsync(server: null, startLocal: true, timeout.Token);

        var environment = (await File.ReadAllTextAsync($"/proc/{home.ReadState().Pid}/environ", timeout.Token)).Split('\0');
        environment.Should().Contain("DOTNET_TC_CallCountingDelayMs=0");
        environment.Should().Contain($"FERRY_HOME={home.Root}", "the rest of the environment is the caller's");
    }
}
