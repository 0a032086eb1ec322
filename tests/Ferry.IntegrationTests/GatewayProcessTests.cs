using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Security;
using Microsoft.Extensions.DependencyInjection;

namespace Ferry.IntegrationTests;

/// <summary>
/// <c>ferry gateway</c> as a process of its own beside a real server and worker: it resolves labels, leases container
/// slots and checks proxy tokens over the server's API, and a gateway killed mid-request frees its slot when the lease
/// lapses. The endpoints are in tests/Ferry.TestApp/WebFunctions.cs.
/// </summary>
public sealed partial class GatewayProcessTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);
    private readonly HttpClient _http = new() { Timeout = Limit };

    /// <summary>Starts <c>ferry gateway</c> on a free port with a new gateway token; returns it and the URL it printed.</summary>
    private async Task<(CliProcess Process, Uri Url)> StartGatewayAsync()
    {
        var token = await fixture.Server.CreateTokenAsync("gateway-" + Guid.NewGuid().ToString("N")[..6], TokenKinds.Gateway);
        var gateway = CliProcess.Start(["gateway", "--server-url", fixture.Url.ToString(), "--port", "0"], Path.GetTempPath(),
            new Dictionary<string, string> { ["FERRY_TOKEN"] = token, ["FERRY_HOME"] = fixture.DataDirectory });
        try
        {
            await gateway.WaitForLineAsync(l => l.StartsWith("Ferry gateway ", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            gateway.Dispose();
            throw new TimeoutException($"`ferry gateway` did not start:\n{gateway.Output}");
        }
        var url = new Uri(ListeningOn().Match(gateway.Output).Groups[1].Value);
        return (gateway, url);
    }

    [Fact]
    public async Task A_get_endpoint_answers_through_a_standalone_gateway_from_zero_containers_and_ctrl_c_stops_it()
    {
        var appId = await fixture.NewAppAsync().WaitAsync(Limit);
        var (gateway, url) = await StartGatewayAsync();
        using var _ = gateway;
        fixture.Scheduler.PoolsOfApp(appId).Single(p => p.PoolId == "Add").Containers.Should().BeEmpty("nothing has asked for the endpoint yet");

        using var byPath = await _http.GetAsync(new Uri(url, "/it-get/?a=2&b=40&name=tea"));
        var byPathBody = await byPath.Content.ReadAsStringAsync();
        // The client can read the whole response before the gateway's release of its slot reaches the server.
        await fixture.WaitUntilAsync(() => fixture.Scheduler.PoolsOfApp(appId).Single(p => p.PoolId == "Add").Containers.Values.All(c => c.IsIdle));
        using var byHost = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Get, new Uri(url, "/?a=1&b=1&name=host"))
        {
            Headers = { Host = $"it-get.localhost:{url.Port}" },
        });
        using var unknown = await _http.GetAsync(new Uri(url, "/no-such-label/"));

        byPath.StatusCode.Should().Be(HttpStatusCode.OK, byPathBody);
        byPathBody.Should().Be("""{"sum":42,"name":"tea"}""");
        (await byHost.Content.ReadAsStringAsync()).Should().Be("""{"sum":2,"name":"host"}""");
        fixture.Scheduler.PoolsOfApp(appId).Single(p => p.PoolId == "Add").Containers.Should().HaveCount(1, "the first request waited for one cold start");
        unknown.StatusCode.Should().Be(HttpStatusCode.NotFound);
        JsonDocument.Parse(await unknown.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString()
            .Should().StartWith("No web endpoint has the label 'no-such-label'.");

        await gateway.SignalAsync("INT");
        (await gateway.WaitForExitAsync(TimeSpan.FromSeconds(30))).Should().Be(0, gateway.Output);
        gateway.Output.Should().Contain("Shutting down the gateway");
    }

    [Fact]
    public async Task An_endpoint_that_requires_auth_answers_401_without_a_proxy_token_200_with_one_and_401_soon_after_revoking_it()
    {
        await fixture.NewAppAsync().WaitAsync(Limit);
        var (gateway, url) = await StartGatewayAsync();
        using var _ = gateway;
        var token = await fixture.Server.CreateTokenAsync("web-caller", TokenKinds.Proxy);
        var clientToken = await fixture.Server.CreateTokenAsync("not-a-proxy-token");
        HttpRequestMessage Request(string? bearer) => new(HttpMethod.Get, new Uri(url, "/it-auth/"))
        {
            Headers = { Authorization = bearer is null ? null : new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer) },
        };

        using var none = await _http.SendAsync(Request(null));
        using var wrongKind = await _http.SendAsync(Request(clientToken));
        using var bearer = await _http.SendAsync(Request(token));

        new[] { none.StatusCode, wrongKind.StatusCode, bearer.StatusCode }.Should().Equal(HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.OK);
        (await bearer.Content.ReadAsStringAsync()).Should().Be("secret");
        JsonDocument.Parse(await none.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString()
            .Should().StartWith("The endpoint 'it-auth' requires a proxy token");

        await fixture.Server.Services.GetRequiredService<TokenRegistry>().RevokeAsync(token.Split('.')[0], CancellationToken.None);
        var revokedAt = Stopwatch.StartNew();
        var bound = Ferry.Server.Gateway.RemoteGatewayBackend.ProxyTokenCacheDuration;
        HttpStatusCode status;
        do
        {
            using var response = await _http.SendAsync(Request(token));
            status = response.StatusCode;
        }
        while (status == HttpStatusCode.OK && revokedAt.Elapsed < bound + TimeSpan.FromSeconds(10));

        status.Should().Be(HttpStatusCode.Unauthorized);
        revokedAt.Elapsed.Should().BeLessThan(bound + TimeSpan.FromSeconds(10), "a revoked token stops working once the gateway's cached check expires");
    }

    [Fact]
    public async Task A_gateway_killed_while_it_holds_a_slot_frees_the_slot_when_its_lease_lapses()
    {
        var appId = await fixture.NewAppAsync().WaitAsync(Limit);
        var (gateway, url) = await StartGatewayAsync();
        using var _ = gateway;
        using var gate = new TcpListener(IPAddress.Loopback, 0);
        gate.Start();
        var endpoint = (IPEndPoint)gate.LocalEndpoint;
        using var timeout = new CancellationTokenSource(Limit);
        int InFlight() => fixture.Scheduler.PoolsOfApp(appId).Single(p => p.PoolId == "Held").WebInFlight;

        var held = _http.GetStringAsync(new Uri(url, $"/it-held/?gate={endpoint.Address}:{endpoint.Port}"), timeout.Token);
        using var atGate = await gate.AcceptTcpClientAsync(timeout.Token);
        InFlight().Should().Be(1, "the request through the gateway holds a slot while it waits at the gate");

        await gateway.SignalAsync("KILL");
        var killed = Stopwatch.StartNew();
        await gateway.WaitForExitAsync(TimeSpan.FromSeconds(30));
        await FluentActions.Awaiting(() => held).Should().ThrowAsync<HttpRequestException>("the gateway died mid-request");
        var lease = new Ferry.Server.ServerOptions { DataDir = "" }.GatewayLeaseDuration;
        var bound = lease + TimeSpan.FromSeconds(5);
        while (InFlight() != 0 && killed.Elapsed < bound + TimeSpan.FromSeconds(10))
        {
            await Task.Delay(50, timeout.Token);
        }

        InFlight().Should().Be(0, "the dead gateway's lease lapsed and its slot was freed");
        killed.Elapsed.Should().BeLessThan(bound, "a slot frees within the lease's duration of the last renewal, plus the sweep");

        using var next = await _http.GetAsync(fixture.Server.GatewayUrl! + "it-get/?a=1&b=2&name=after");
        next.StatusCode.Should().Be(HttpStatusCode.OK, "the server and its containers are undisturbed");
    }

    [GeneratedRegex(@"Ferry gateway \S+ serving \S+ on (\S+?): ")]
    private static partial Regex ListeningOn();
}
