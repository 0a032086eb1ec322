using System.Net;
using System.Net.Sockets;
using System.Text;
using FluentAssertions;
using Ferry.Protocol;

namespace Ferry.IntegrationTests;

/// <summary>What a runc container can reach on the network, and which syscalls it is refused.</summary>
public sealed class IsolationTests(RuncFixture fixture) : IClassFixture<RuncFixture>
{
    private readonly Ferry.TestApp.TestFunctions _f = fixture.Functions;

    [RuncFact]
    public async Task A_container_cannot_connect_to_services_on_the_hosts_loopback()
    {
        await fixture.NewAppAsync();
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();

        var toListener = await _f.ConnectTo.RemoteAsync($"127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}");
        var toServer = await _f.ConnectTo.RemoteAsync($"127.0.0.1:{fixture.Url.Port}");

        toListener.Should().Be("failed: ConnectionRefused", "127.0.0.1 in a container is the container's own loopback");
        toServer.Should().Be("failed: ConnectionRefused", "the control plane on the host's loopback is out of reach too");
        listener.Pending().Should().BeFalse();
    }

    [RuncFact]
    public async Task Through_the_relay_a_containers_token_still_reaches_only_its_own_app()
    {
        var appId = await fixture.NewAppAsync();

        var statuses = await _f.ProbeApi.RemoteAsync([$"GET {Routes.Apps}", $"GET {Routes.Containers()}", $"anonymous GET {Routes.Apps}", $"GET {Routes.Stats(appId, "square")}"]);

        statuses.Should().Equal(["403", "403", "401", "200"], "the relay passes bytes through; the control plane decides by token, not by source address");
    }

    [RuncFact]
    public async Task A_container_gets_the_hosts_network_address_over_http_and_is_refused_the_gateways_other_ports()
    {
        await fixture.NewAppAsync();
        var hostAddress = ExecutionCounter.PrimaryAddress();
        using var http = new TcpListener(hostAddress, 0);
        http.Start();
        using var anywhere = new TcpListener(IPAddress.Any, 0);
        anywhere.Start();
        var serving = ServeOneAsync(http, "hello from the host");

        var body = await _f.HttpGet.RemoteAsync($"http://{hostAddress}:{((IPEndPoint)http.LocalEndpoint).Port}/");
        var serverUrl = new Uri(await _f.ServerUrl.RemoteAsync());
        var toGateway = await _f.ConnectTo.RemoteAsync($"{serverUrl.Host}:{((IPEndPoint)anywhere.LocalEndpoint).Port}");

        body.Should().Be("hello from the host");
        (await serving.WaitAsync(TimeSpan.FromSeconds(10))).Should().StartWith("GET / HTTP/1.1");
        serverUrl.Host.Should().StartWith("10.213.").And.EndWith(".1", "containers reach the control plane through the relay on their gateway");
        serverUrl.Port.Should().NotBe(fixture.Url.Port);
        toGateway.Should().Be("failed: HostUnreachable", "on the gateway only the relay's port is open, even to a service listening on every address");
        anywhere.Pending().Should().BeFalse();
    }

    [RuncFact]
    public async Task A_container_cannot_connect_to_another_container()
    {
        await fixture.NewAppAsync();
        var peer = await _f.Listen.RemoteAsync();
        var colon = peer.LastIndexOf(':');
        using var fromHost = new TcpClient();
        await fromHost.ConnectAsync(IPAddress.Parse(peer[..colon]), int.Parse(peer[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture)).WaitAsync(TimeSpan.FromSeconds(10));
        var greeting = new byte[5];
        await fromHost.GetStream().ReadExactlyAsync(greeting).AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        var fromContainer = await _f.ConnectTo.RemoteAsync(peer);

        Encoding.ASCII.GetString(greeting).Should().Be("hello", "the peer's server is up: the worker's host can reach it");
        fromContainer.Should().Be("failed: HostUnreachable");
    }

    [RuncFact]
    public async Task Seccomp_refuses_a_new_user_namespace_in_a_container_and_in_an_image_build()
    {
        await fixture.NewAppAsync();

        var plain = await _f.Shell.RemoteAsync("echo ok");
        var unshare = await _f.Shell.RemoteAsync("unshare -U true");
        var build = await _f.BuildSandbox.RemoteAsync();

        plain.Should().Be("exit 0: ok");
        unshare.Should().Be("exit 1: unshare: unshare failed: Operation not permitted");
        var (gateway, buildUnshare) = (build.Split('|')[0], build.Split('|')[1]);
        gateway.Should().StartWith("10.213.").And.EndWith(".1", "the build step ran in its own network namespace on the container network");
        buildUnshare.Should().Be("unshare: unshare failed: Operation not permitted");
    }

    /// <summary>Answers one HTTP request with <paramref name="body"/>; returns the request's head.</summary>
    private static async Task<string> ServeOneAsync(TcpListener listener, string body)
    {
        using var client = await listener.AcceptTcpClientAsync();
        var stream = client.GetStream();
        var head = new StringBuilder();
        var buffer = new byte[4096];
        while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer);
            if (read == 0)
            {
                break;
            }
            head.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}"));
        return head.ToString();
    }
}
