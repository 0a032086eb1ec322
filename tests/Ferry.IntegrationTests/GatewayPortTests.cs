using System.Net;
using System.Net.Sockets;
using FluentAssertions;
using Ferry.Server;

namespace Ferry.IntegrationTests;

/// <summary>The gateway's default port (the server's plus one) gives way when something else holds it.</summary>
public sealed class GatewayPortTests
{
    [Fact]
    public async Task A_server_whose_default_gateway_port_is_taken_starts_with_the_gateway_on_a_free_port()
    {
        // Something else listens on P + 1 while P is free: the server's port is P.
        var (port, taken) = PortBelowATakenOne();
        using var _ = taken;
        var root = Path.Combine(Path.GetTempPath(), "ferry-gwport-" + Guid.NewGuid().ToString("N")[..8]);
        using var setup = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await using var server = await FerryServer.StartAsync(new ServerOptions { DataDir = root, Port = port }, setup.Token);

            server.Url.Port.Should().Be(port);
            server.GatewayUrl!.Port.Should().NotBe(port + 1).And.NotBe(0);
            using var http = new HttpClient();
            using var response = await http.GetAsync(new Uri(server.GatewayUrl, "/no-such-label/"), setup.Token);
            response.StatusCode.Should().Be(HttpStatusCode.NotFound, "the gateway answers on the port it moved to");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static (int Port, TcpListener Taken) PortBelowATakenOne()
    {
        for (var attempt = 0; ; attempt++)
        {
            var taken = new TcpListener(IPAddress.Loopback, 0);
            taken.Start();
            var below = ((IPEndPoint)taken.LocalEndpoint).Port - 1;
            try
            {
                using var probe = new TcpListener(IPAddress.Loopback, below);
                probe.Start();
                probe.Stop();
                return (below, taken);
            }
            catch (SocketException) when (attempt < 50)
            {
                taken.Stop();
            }
        }
    }
}
