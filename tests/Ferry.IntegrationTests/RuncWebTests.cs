using System.Net.WebSockets;
using System.Text;
using FluentAssertions;

namespace Ferry.IntegrationTests;

/// <summary>
/// Web endpoints in runc containers: the gateway reaches each container at its own address on the worker's bridge,
/// with the container network's isolation rules unchanged.
/// </summary>
public sealed class RuncWebTests(RuncFixture fixture) : IClassFixture<RuncFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(180);

    [RuncFact]
    public async Task A_web_endpoint_in_a_runc_container_is_reached_at_the_containers_own_address()
    {
        var appId = await fixture.NewAppAsync().WaitAsync(Limit);
        using var http = new HttpClient { Timeout = Limit };

        var body = await http.GetStringAsync(new Uri(fixture.Server.GatewayUrl!, "/it-get/?a=20&b=22"));
        string? address = null;
        using var timeout = new CancellationTokenSource(Limit);
        await fixture.Scheduler.WaitUntilAsync(() =>
        {
            address = fixture.Scheduler.PoolsOfApp(appId).Single(p => p.PoolId == "Add").Containers.Values.Single().WebAddress;
            return true;
        }, timeout.Token);

        body.Should().Be("""{"sum":42,"name":null}""");
        address.Should().MatchRegex(@"^10\.213\.\d+\.\d+:8000$");
    }

    [RuncFact]
    public async Task A_websocket_echoes_through_the_gateway_into_a_runc_container()
    {
        await fixture.NewAppAsync().WaitAsync(Limit);
        using var timeout = new CancellationTokenSource(Limit);
        using var socket = new ClientWebSocket();

        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{fixture.Server.GatewayUrl!.Port}/it-ws/ws"), timeout.Token);
        await socket.SendAsync(Encoding.UTF8.GetBytes("ping"), WebSocketMessageType.Text, true, timeout.Token);
        var buffer = new byte[64];
        var received = await socket.ReceiveAsync(buffer, timeout.Token);
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);

        Encoding.UTF8.GetString(buffer, 0, received.Count).Should().Be("ping");
    }
}
