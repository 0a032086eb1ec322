using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using FluentAssertions;
using Ferry.Client;
using Ferry.Hosting;
using Ferry.Protocol;
using Microsoft.AspNetCore.Routing;

namespace Ferry.IntegrationTests;

/// <summary>Attacks on the control plane's trust boundary, each of which must fail safely.</summary>
public sealed class SecurityTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Every_route_but_health_refuses_a_request_without_a_valid_token()
    {
        await fixture.NewAppAsync();
        var routes = fixture.Server.Routes.ToList();
        routes.Should().HaveCountGreaterThan(25, "the whole API is covered, not a sample of it");
        using var anonymous = new HttpClient { BaseAddress = fixture.Url };
        using var forged = new HttpClient { BaseAddress = fixture.Url };
        forged.DefaultRequestHeaders.Authorization = Credentials.Header("tk-0000000000000000.not-the-secret");
        var checkedRoutes = 0;
        foreach (var route in routes)
        {
            var path = System.Text.RegularExpressions.Regex.Replace(route.RoutePattern.RawText ?? "", @"\{\*?([a-z]+)[^}]*\}", "x");
            var methods = route.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"];
            foreach (var method in methods)
            {
                foreach (var http in new[] { anonymous, forged })
                {
                    using var request = new HttpRequestMessage(new HttpMethod(method), path.TrimStart('/'));
                    using var response = await http.SendAsync(request).WaitAsync(Limit);
                    if (path == ProtocolInfo.Prefix + Routes.Templates.Health)
                    {
                        response.StatusCode.Should().Be(HttpStatusCode.OK);
                        continue;
                    }
                    response.StatusCode.Should().Be(HttpStatusCode.Unauthorized, $"{method} {path} must need a token");
                    var error = await response.Content.ReadFromJsonAsync(ProtocolJsonContext.Default.ErrorResponse);
                    error!.Error.Should().Be(ErrorCodes.Unauthorized);
                    checkedRoutes++;
                }
            }
        }
        checkedRoutes.Should().BeGreaterThan(50);
    }

    [Fact]
    public void Every_route_the_server_maps_is_a_shared_template_and_every_template_is_mapped()
    {
        var templates = typeof(Routes.Templates).GetFields().Select(f => ProtocolInfo.Prefix + (string)f.GetRawConstantValue()!);

        var mapped = fixture.Server.Routes.Select(r => r.RoutePattern.RawText ?? "").Where(t => t.StartsWith(ProtocolInfo.Prefix + "/", StringComparison.Ordinal)).Distinct();

        mapped.Should().BeEquivalentTo(templates, "clients build their paths from the templates the server maps");
    }

    [Fact]
    public async Task Code_in_a_container_cannot_reach_other_apps_or_the_platform()
    {
        // The victim: another app with a running container and a log.
        var victim = await fixture.CreateAppAsync("victim");
        var attackerClient = FerryContext.Override;
        FerryContext.Override = victim;
        var victimCall = await fixture.Functions.Sleep.SpawnAsync(30_000);
        await fixture.WaitUntilAsync(() => fixture.Scheduler.ListContainers(victim.AppId).Any(c => c.Function == "sleep"));
        var victimContainer = fixture.Scheduler.ListContainers(victim.AppId).Single(c => c.Function == "sleep").ContainerId;
        FerryContext.Override = attackerClient;
        var own = await fixture.NewAppAsync();

        string[] attacks =
        [
            $"GET {Routes.Apps}",
            $"GET {Routes.App(victim.AppId)}",
            $"GET {Routes.AppLogs(victim.AppId)}",
            $"POST {Routes.StopApp(victim.AppId)}",
            $"POST {Routes.Calls(victim.AppId)}",
            $"PUT {Routes.Definition(victim.AppId)}",
            $"GET {Routes.Stats(victim.AppId, "sleep")}",
            $"POST {Routes.Autoscaler(victim.AppId, "sleep")}",
            $"GET {Routes.Outputs(victimCall.Id)}",
            $"POST {Routes.CancelCall(victimCall.Id)}",
            $"GET {Routes.CallStats(victimCall.Id)}",
            $"GET {Routes.StreamItems(victimCall.Id)}",
            $"GET {Routes.Containers()}",
            $"GET {Routes.ContainerLogs(victimContainer)}",
            $"GET {Routes.Exec(victimContainer)}?arg=env",
            $"POST {Routes.StopContainer(victimContainer)}",
            $"GET {Routes.ContainerStream(victimContainer)}",
            $"GET {Routes.Shell(victim.AppId)}?function=sleep",
            $"POST {Routes.Apps}",
            $"POST {Routes.Builds}",
            $"GET {Routes.Images}",
            $"GET {Routes.Tokens}",
            $"POST {Routes.Tokens}",
            $"GET {Routes.WorkerStream}",
            $"GET {Routes.WorkerSession("ss-1")}",
            $"GET {Routes.Secrets}",
            $"POST {Routes.Secrets}",
            $"DELETE {Routes.Secret("any")}",
            $"GET {Routes.Dicts}",
            $"DELETE {Routes.Dict("any")}",
            $"GET {Routes.Queues}",
            $"DELETE {Routes.Queue("any")}",
        ];
        // Dicts and queues are shared across apps, as in Modal: a container reaches their data routes (a missing one is 404).
        string[] allowed = [$"GET {Routes.Stats(own, "square")}", $"anonymous GET {Routes.Apps}", $"GET {Routes.Dict("no-such-dict")}", $"GET {Routes.QueueLen("no-such-queue")}"];

        var statuses = await fixture.Functions.ProbeApi.RemoteAsync([.. attacks, .. allowed]).WaitAsync(Limit);

        statuses[..attacks.Length].Should().AllBe("403", "a container's token reaches only its own stream and its own app's calls");
        statuses[attacks.Length..].Should().Equal("200", "401", "404", "404");
        fixture.Scheduler.ListContainers(victim.AppId).Select(c => c.ContainerId).Should().Contain(victimContainer);
        var apps = await ListAppsAsync();
        apps.Single(a => a.AppId == victim.AppId).State.Should().Be("running");
        FerryContext.Override = victim;
        await victimCall.CancelAsync();
        FerryContext.Override = attackerClient;
    }

    [Fact]
    public async Task A_worker_connection_without_a_join_token_is_refused()
    {
        await fixture.NewAppAsync();
        using var anonymous = new ClientWebSocket();
        anonymous.Options.CollectHttpResponseDetails = true;
        await FluentActions.Awaiting(() => anonymous.ConnectAsync(WorkerStream, CancellationToken.None)).Should().ThrowAsync<WebSocketException>();
        anonymous.HttpStatusCode.Should().Be(HttpStatusCode.Unauthorized);

        using var client = new ClientWebSocket();
        client.Options.CollectHttpResponseDetails = true;
        Credentials.Apply(client.Options, fixture.AdminToken, null);
        await FluentActions.Awaiting(() => client.ConnectAsync(WorkerStream, CancellationToken.None)).Should().ThrowAsync<WebSocketException>();
        client.HttpStatusCode.Should().Be(HttpStatusCode.Forbidden, "a client token is not a worker's");

        (await fixture.Functions.Square.RemoteAsync(7).WaitAsync(Limit)).Should().Be(49);
    }

    [Fact]
    public async Task A_second_connection_under_a_connected_workers_id_is_refused_and_the_worker_keeps_serving()
    {
        await fixture.NewAppAsync();
        (await fixture.Functions.Square.RemoteAsync(3).WaitAsync(Limit)).Should().Be(9);
        var intruderToken = await fixture.Server.CreateTokenAsync("intruder", TokenKinds.Worker, ephemeral: true);

        var sameId = await RegisterAsync(intruderToken, fixture.WorkerId);
        var sameToken = await RegisterAsync(fixture.WorkerToken, "wk-impostor");

        sameId.Should().Be(WebSocketCloseStatus.PolicyViolation);
        sameToken.Should().Be(WebSocketCloseStatus.PolicyViolation, "a join token belongs to the one worker that registered with it");
        var squares = new List<int>();
        using (var timeout = new CancellationTokenSource(Limit))
        {
            await foreach (var square in fixture.Functions.Square.MapAsync(Enumerable.Range(0, 20)).WithCancellation(timeout.Token))
            {
                squares.Add(square);
            }
        }
        squares.Should().Equal(Enumerable.Range(0, 20).Select(x => x * x));
        fixture.Scheduler.ListContainers(null).Should().OnlyContain(c => c.WorkerId == fixture.WorkerId);
    }

    [Fact]
    public async Task A_revoked_client_token_is_refused_at_once()
    {
        await fixture.NewAppAsync();
        using var admin = fixture.NewHttpClient();
        var created = await (await admin.PostAsJsonAsync(Routes.Tokens, new CreateTokenRequest("short-lived"), ProtocolJsonContext.Default.CreateTokenRequest))
            .Content.ReadFromJsonAsync(ProtocolJsonContext.Default.CreateTokenResponse);
        using var holder = new HttpClient { BaseAddress = fixture.Url, DefaultRequestHeaders = { Authorization = Credentials.Header(created!.Secret) } };
        (await holder.GetAsync(Routes.Apps)).StatusCode.Should().Be(HttpStatusCode.OK);

        (await admin.PostAsync(Routes.RevokeToken(created.Token.TokenId), null)).StatusCode.Should().Be(HttpStatusCode.OK);

        (await holder.GetAsync(Routes.Apps)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        var listed = await admin.GetFromJsonAsync(Routes.Tokens, ProtocolJsonContext.Default.TokenList);
        listed!.Tokens.Single(t => t.TokenId == created.Token.TokenId).RevokedAt.Should().NotBeNull();
        JsonSerializer.Serialize(listed, ProtocolJsonContext.Default.TokenList).Should().NotContain(created.Secret.Split('.')[1], "listings never show a secret");
    }

    private Uri WorkerStream => new UriBuilder(fixture.Url) { Scheme = "ws", Path = "/" + Routes.WorkerStream }.Uri;

    /// <summary>Connects as a worker with <paramref name="token"/>, claims <paramref name="workerId"/>, and returns how the server closed the stream.</summary>
    private async Task<WebSocketCloseStatus?> RegisterAsync(string token, string workerId)
    {
        using var socket = new ClientWebSocket();
        Credentials.Apply(socket.Options, token, null);
        await socket.ConnectAsync(WorkerStream, CancellationToken.None).WaitAsync(Limit);
        var hello = new WorkerHello(workerId, "intruder", "process", new WorkerResources(64, 1 << 20, [], 64), []);
        await socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes<WorkerMessage>(hello, ProtocolJsonContext.Default.WorkerMessage), WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(Limit);
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, timeout.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return result.CloseStatus;
            }
        }
    }

    private async Task<IReadOnlyList<AppSummary>> ListAppsAsync()
    {
        using var admin = fixture.NewHttpClient();
        return (await admin.GetFromJsonAsync(Routes.Apps, ProtocolJsonContext.Default.AppList))!.Apps;
    }
}

/// <summary>The API over HTTPS with a self-signed certificate that clients, the worker and containers pin.</summary>
public sealed class TlsTests(TlsFixture fixture) : IClassFixture<TlsFixture>
{
    [Fact]
    public async Task Calls_run_end_to_end_over_tls_with_a_pinned_certificate()
    {
        await fixture.NewAppAsync();
        fixture.Url.Scheme.Should().Be("https");

        (await fixture.Functions.Square.RemoteAsync(12).WaitAsync(TimeSpan.FromSeconds(60))).Should().Be(144);

        using var unpinned = new FerryClient(fixture.Url, fixture.AdminToken, TimeSpan.FromSeconds(1));
        await FluentActions.Awaiting(() => unpinned.SendAsync<object, AppList>(HttpMethod.Get, Routes.Apps, null, null, ProtocolJsonContext.Default.AppList, CancellationToken.None))
            .Should().ThrowAsync<Exception>("a client that does not pin the self-signed certificate refuses it");
    }

    [Fact]
    public async Task A_server_off_loopback_will_not_start_without_tls()
    {
        var start = () => Ferry.Server.FerryServer.StartAsync(new Ferry.Server.ServerOptions { DataDir = Path.Combine(Path.GetTempPath(), "ferry-notls-" + Guid.NewGuid().ToString("N")[..8]), Bind = "0.0.0.0", Port = 0 });
        (await FluentActions.Awaiting(start).Should().ThrowAsync<InvalidOperationException>()).WithMessage("*needs a TLS certificate*");
    }
}
