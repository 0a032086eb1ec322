using System.Diagnostics;
using System.Net.Http.Json;
using FluentAssertions;
using Ferry.Cli;
using Ferry.Protocol;

namespace Ferry.IntegrationTests;

/// <summary>A control plane whose state is in PostgreSQL: calls and maps run through it and outlive a restart.</summary>
public sealed class PostgresStoreTests(PostgresServerFixture fixture) : IClassFixture<PostgresServerFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    [PostgresFact]
    public async Task A_call_and_a_map_run_on_postgres_and_their_outputs_are_read_after_a_restart()
    {
        var appId = await fixture.NewAppAsync();
        (await fixture.Functions.Square.RemoteAsync(7).WaitAsync(Limit)).Should().Be(49);
        var squares = new List<int>();
        await foreach (var square in fixture.Functions.Square.MapAsync(Enumerable.Range(0, 25)).WithCancellation(new CancellationTokenSource(Limit).Token))
        {
            squares.Add(square);
        }
        var calls = await fixture.CallIdsAsync(appId);

        await fixture.RestartServerAsync();

        using var http = fixture.NewHttpClient();
        var batches = new List<OutputBatch>();
        foreach (var callId in calls)
        {
            batches.Add((await http.GetFromJsonAsync($"v1/calls/{callId}/outputs?after=0&limit=100", ProtocolJsonContext.Default.OutputBatch).WaitAsync(Limit))!);
        }
        squares.Should().Equal(Enumerable.Range(0, 25).Select(x => x * x));
        calls.Should().HaveCount(2);
        var single = batches.Single(b => b.Total == 1);
        single.Outputs.Select(o => o.Result!.Value.GetInt32()).Should().Equal(49);
        single.Done.Should().BeTrue();
        var map = batches.Single(b => b.Total == 25);
        map.Done.Should().BeTrue();
        map.Outputs.Select(o => o.Cursor).Should().Equal(Enumerable.Range(1, 25).Select(i => (long)i), "outputs are read back in completion order");
        map.Outputs.OrderBy(o => o.Index).Select(o => (o.Index, o.Result!.Value.GetInt32())).Should().Equal(Enumerable.Range(0, 25).Select(x => (x, x * x)));
        (await fixture.Functions.Square.RemoteAsync(3).WaitAsync(Limit)).Should().Be(9, "the restarted server takes new work on the same database");
        (await fixture.CallIdsAsync(appId)).Should().HaveCount(3);
    }

    [Fact]
    public async Task A_server_whose_store_cannot_be_reached_names_host_and_database_but_never_the_password()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "ferry-pg-" + Guid.NewGuid().ToString("N")[..8]);
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // Port 1 on loopback refuses at once: nothing listens there.
        foreach (var arg in new[] { typeof(ControlPlane).Assembly.Location, "server", "--port", "0", "--data-dir", dataDir, "--token-file", Path.Combine(dataDir, "token"),
                     "--no-worker", "--store", "postgres://ferry:hunter2-secret@127.0.0.1:1/ferry_state" })
        {
            info.ArgumentList.Add(arg);
        }
        using var server = Process.Start(info)!;
        var stderr = server.StandardError.ReadToEndAsync();
        var stdout = server.StandardOutput.ReadToEndAsync();
        await server.WaitForExitAsync().WaitAsync(Limit);
        var output = await stderr + await stdout;
        Directory.Delete(dataDir, recursive: true);

        server.ExitCode.Should().Be(1);
        output.Should().Contain("PostgreSQL database ferry_state on 127.0.0.1:1").And.NotContain("hunter2");
    }
}
