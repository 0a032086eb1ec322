using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Security;
using Microsoft.Extensions.DependencyInjection;

namespace Ferry.IntegrationTests;

/// <summary>
/// Web endpoints through the real gateway: a server, a worker running containers, Kestrel in each container, and YARP
/// forwarding between them. The endpoints are in tests/Ferry.TestApp/WebFunctions.cs.
/// </summary>
public sealed class WebTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);
    private readonly HttpClient _http = new() { Timeout = Limit };

    private Uri Gateway => fixture.Server.GatewayUrl!;

    private Uri At(string pathAndQuery) => new(Gateway, pathAndQuery);

    private HttpRequestMessage ByHost(HttpMethod method, string label, string pathAndQuery) => new(method, At(pathAndQuery))
    {
        Headers = { Host = $"{label}.localhost:{Gateway.Port}" },
    };

    private int Containers(string appId, string pool) => fixture.Scheduler.PoolsOfApp(appId).Single(p => p.PoolId == pool).Containers.Count;

    [Fact]
    public async Task Get_and_post_endpoints_bind_query_and_body_values_and_answer_json_from_a_cold_start()
    {
        var appId = await fixture.NewAppAsync().WaitAsync(Limit);
        Containers(appId, "Add").Should().Be(0, "nothing has asked for the endpoint yet");

        using var get = await _http.GetAsync(At("/it-get/?a=2&b=40&name=tea"));
        var getBody = await get.Content.ReadAsStringAsync();

        get.StatusCode.Should().Be(HttpStatusCode.OK, getBody);
        get.Content.Headers.ContentType!.MediaType.Should().Be("application/json");
        JsonDocument.Parse(getBody).RootElement.GetRawText().Should().Be("""{"sum":42,"name":"tea"}""");
        Containers(appId, "Add").Should().Be(1, "the first request waited for one cold start");

        using var post = await _http.PostAsJsonAsync(At("/it-post"), new { item = "tea", quantity = 3, price = 2.5m });
        var postBody = await post.Content.ReadAsStringAsync();

        post.StatusCode.Should().Be(HttpStatusCode.OK, postBody);
        postBody.Should().Be("""{"item":"tea","total":7.5}""");
    }

    [Fact]
    public async Task A_class_method_endpoint_keeps_the_state_its_enter_hook_built_across_requests()
    {
        var appId = await fixture.NewAppAsync().WaitAsync(Limit);

        var answers = new List<JsonElement>();
        foreach (var text in new[] { "tea", "milk", "sugar" })
        {
            using var response = await _http.GetAsync(At($"/it-model/?text={text}"));
            var body = await response.Content.ReadAsStringAsync();
            response.StatusCode.Should().Be(HttpStatusCode.OK, body);
            answers.Add(JsonDocument.Parse(body).RootElement.Clone());
        }

        Containers(appId, "WebModel.Predict").Should().Be(1);
        var weights = answers[0].GetProperty("prediction").GetString()!.Split(':')[0];
        weights.Should().MatchRegex("^weights-[0-9]+$");
        answers.Select(a => a.GetProperty("prediction").GetString()).Should().Equal($"{weights}:TEA", $"{weights}:MILK", $"{weights}:SUGAR");
        answers.Select(a => a.GetProperty("served").GetInt32()).Should().Equal([1, 2, 3], "one instance served every request");
        answers.Select(a => a.GetProperty("enters").GetInt32()).Should().Equal([1, 1, 1], "the enter hook ran once in the container");
    }

    [Fact]
    public async Task Attribute_endpoints_serve_an_instance_method_with_its_state_and_a_static_method()
    {
        await fixture.NewAppAsync().WaitAsync(Limit);

        using var score = await _http.PostAsJsonAsync(At("/it-model-score"), new { item = "tea", quantity = 4, price = 1.25m });
        var scoreBody = await score.Content.ReadAsStringAsync();
        using var wrongMethod = await _http.GetAsync(At("/it-model-score"));
        using var version = await _http.GetAsync(At("/it-model-version/"));

        score.StatusCode.Should().Be(HttpStatusCode.OK, scoreBody);
        var answer = JsonDocument.Parse(scoreBody).RootElement;
        answer.GetProperty("weights").GetString().Should().MatchRegex("^weights-[0-9]+$", "the enter hook ran before the request");
        answer.GetProperty("total").GetDecimal().Should().Be(5m);
        wrongMethod.StatusCode.Should().Be(HttpStatusCode.MethodNotAllowed, "the attribute made it a POST endpoint");
        version.StatusCode.Should().Be(HttpStatusCode.OK);
        (await version.Content.ReadAsStringAsync()).Should().Be("model-v1");
    }

    [Fact]
    public async Task A_deployed_app_serves_its_endpoints_through_the_gateway()
    {
        try
        {
            var name = "web-deploy-" + Guid.NewGuid().ToString("N")[..6];
            await fixture.DeployAsync(name, await fixture.UploadVersionedBuildAsync("web-v1")).WaitAsync(Limit);

            using var response = await _http.GetAsync(At("/it-get/?a=40&b=2&name=deployed"));
            var body = await response.Content.ReadAsStringAsync();

            response.StatusCode.Should().Be(HttpStatusCode.OK, body);
            body.Should().Be("""{"sum":42,"name":"deployed"}""");
        }
        finally
        {
            await fixture.StopDeploymentsAsync().WaitAsync(Limit);
        }
    }

    [Fact]
    public async Task Values_that_do_not_bind_get_400_naming_the_parameter_and_a_throwing_handler_gets_500_with_a_request_id()
    {
        await fixture.NewAppAsync().WaitAsync(Limit);

        using var missing = await _http.GetAsync(At("/it-get/?a=2"));
        var missingBody = await missing.Content.ReadAsStringAsync();
        using var failing = await _http.GetAsync(At("/it-fail/?why=test"));
        var failingBody = await failing.Content.ReadAsStringAsync();

        missing.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        JsonDocument.Parse(missingBody).RootElement.GetProperty("error").GetString()
            .Should().Be("Required parameter \"int b\" was not provided from query string.");
        failing.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        var requestId = failing.Headers.GetValues("Ferry-Request-Id").Single();
        requestId.Should().StartWith("rq-");
        JsonDocument.Parse(failingBody).RootElement.GetProperty("requestId").GetString().Should().Be(requestId);
        failingBody.Should().NotContain("handler failed on purpose", "the exception stays in the app's logs");
    }

    [Fact]
    public async Task An_aspnet_app_serves_three_routes_by_host_label_and_by_path()
    {
        await fixture.NewAppAsync().WaitAsync(Limit);
        var answers = new List<string>();

        foreach (var byHost in new[] { true, false })
        {
            HttpRequestMessage Request(HttpMethod method, string path) => byHost ? ByHost(method, "it-app", path) : new HttpRequestMessage(method, At("/it-app" + path));
            using var health = await _http.SendAsync(Request(HttpMethod.Get, "/health"));
            using var item = await _http.SendAsync(Request(HttpMethod.Get, "/items/7"));
            var echoRequest = Request(HttpMethod.Post, "/echo");
            echoRequest.Content = new StringContent("hello through the gateway");
            using var echo = await _http.SendAsync(echoRequest);
            answers.Add($"{(int)health.StatusCode} {await health.Content.ReadAsStringAsync()} {(int)item.StatusCode} {await item.Content.ReadAsStringAsync()} {(int)echo.StatusCode} {await echo.Content.ReadAsStringAsync()}");
        }

        answers.Should().Equal(
            """200 {"status":"ok"} 200 {"id":7,"name":"item 7"} 200 hello through the gateway""",
            """200 {"status":"ok"} 200 {"id":7,"name":"item 7"} 200 hello through the gateway""");
    }

    [Fact]
    public async Task A_server_sent_event_reaches_the_client_before_the_handler_finishes()
    {
        await fixture.NewAppAsync().WaitAsync(Limit);
        using var gate = new TcpListener(ExecutionCounter.PrimaryAddress(), 0);
        gate.Start();
        var endpoint = (IPEndPoint)gate.LocalEndpoint;
        using var timeout = new CancellationTokenSource(Limit);

        using var response = await _http.GetAsync(At($"/it-sse/?gate={endpoint.Address}:{endpoint.Port}"), HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(timeout.Token));
        var first = await reader.ReadLineAsync(timeout.Token);
        // The handler is still waiting at the gate: it can write its second event only once the gate closes.
        using (var held = await gate.AcceptTcpClientAsync(timeout.Token))
        {
            held.Close();
        }
        var rest = await reader.ReadToEndAsync(timeout.Token);

        response.Content.Headers.ContentType!.MediaType.Should().Be("text/event-stream");
        first.Should().Be("data: first");
        rest.Should().Be("\ndata: second\n\n");
    }

    [Fact]
    public async Task A_websocket_echoes_through_the_gateway()
    {
        await fixture.NewAppAsync().WaitAsync(Limit);
        using var timeout = new CancellationTokenSource(Limit);
        using var socket = new ClientWebSocket();

        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{Gateway.Port}/it-ws/ws"), timeout.Token);
        var echoes = new List<string>();
        foreach (var message in new[] { "one", "two", new string('x', 100_000) })
        {
            await socket.SendAsync(Encoding.UTF8.GetBytes(message), WebSocketMessageType.Text, true, timeout.Token);
            var buffer = new MemoryStream();
            var chunk = new byte[8192];
            WebSocketReceiveResult received;
            do
            {
                received = await socket.ReceiveAsync(chunk, timeout.Token);
                buffer.Write(chunk, 0, received.Count);
            }
            while (!received.EndOfMessage);
            echoes.Add(Encoding.UTF8.GetString(buffer.ToArray()));
        }
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);

        echoes.Should().Equal("one", "two", new string('x', 100_000));
        socket.CloseStatus.Should().Be(WebSocketCloseStatus.NormalClosure);
    }

    [Fact]
    public async Task An_endpoint_that_requires_auth_answers_401_without_a_proxy_token_200_with_one_and_401_after_revoking_it()
    {
        await fixture.NewAppAsync().WaitAsync(Limit);
        var token = await fixture.Server.CreateTokenAsync("web-caller", TokenKinds.Proxy);
        var clientToken = await fixture.Server.CreateTokenAsync("not-a-proxy-token");
        var (id, secret) = (token.Split('.')[0], token.Split('.')[1]);
        HttpRequestMessage Request(string? bearer = null, bool headers = false)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, At("/it-auth/"));
            if (bearer is not null)
            {
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
            }
            if (headers)
            {
                request.Headers.Add("Ferry-Key", id);
                request.Headers.Add("Ferry-Secret", secret);
            }
            return request;
        }

        using var none = await _http.SendAsync(Request());
        using var wrongKind = await _http.SendAsync(Request(clientToken));
        using var bearer = await _http.SendAsync(Request(token));
        using var keyAndSecret = await _http.SendAsync(Request(headers: true));
        await fixture.Server.Services.GetRequiredService<TokenRegistry>().RevokeAsync(id, CancellationToken.None);
        using var revoked = await _http.SendAsync(Request(token));

        new[] { none.StatusCode, wrongKind.StatusCode, bearer.StatusCode, keyAndSecret.StatusCode, revoked.StatusCode }.Should().Equal(
            HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.Unauthorized);
        (await bearer.Content.ReadAsStringAsync()).Should().Be("secret");
        JsonDocument.Parse(await none.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString()
            .Should().StartWith("The endpoint 'it-auth' requires a proxy token");
    }

    [Fact]
    public async Task An_unknown_label_answers_404_naming_it_by_path_and_by_host()
    {
        await fixture.NewAppAsync().WaitAsync(Limit);

        using var byPath = await _http.GetAsync(At("/no-such-endpoint/x"));
        using var byHost = await _http.SendAsync(ByHost(HttpMethod.Get, "nope", "/"));

        byPath.StatusCode.Should().Be(HttpStatusCode.NotFound);
        JsonDocument.Parse(await byPath.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString()
            .Should().StartWith("No web endpoint has the label 'no-such-endpoint'.");
        byHost.StatusCode.Should().Be(HttpStatusCode.NotFound);
        JsonDocument.Parse(await byHost.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString()
            .Should().StartWith("No web endpoint has the label 'nope'.");
    }

    [Fact]
    public async Task Requests_held_in_flight_scale_the_endpoint_to_one_container_per_max_inputs()
    {
        var appId = await fixture.NewAppAsync().WaitAsync(Limit);
        const int requests = 12, maxInputs = 4;
        using var gate = new TcpListener(ExecutionCounter.PrimaryAddress(), 0);
        gate.Start(requests);
        var endpoint = (IPEndPoint)gate.LocalEndpoint;
        using var timeout = new CancellationTokenSource(Limit);

        var calls = Enumerable.Range(0, requests)
            .Select(_ => _http.GetStringAsync(At($"/it-held/?gate={endpoint.Address}:{endpoint.Port}"), timeout.Token))
            .ToList();
        var held = new List<TcpClient>();
        while (held.Count < requests)
        {
            held.Add(await gate.AcceptTcpClientAsync(timeout.Token));
        }
        var live = 0;
        await fixture.Scheduler.WaitUntilAsync(() =>
        {
            var pool = fixture.Scheduler.PoolsOfApp(appId).Single(p => p.PoolId == "Held");
            live = pool.LiveContainers;
            return pool.WebInFlight == requests;
        }, timeout.Token);
        foreach (var client in held)
        {
            client.Dispose();
        }
        var answers = await Task.WhenAll(calls).WaitAsync(timeout.Token);

        live.Should().Be(requests / maxInputs);
        answers.Distinct().Should().HaveCount(requests / maxInputs, "each container served MaxInputs of the requests at once");
        answers.GroupBy(a => a).Select(g => g.Count()).Should().AllBeEquivalentTo(maxInputs);
    }

    [Fact]
    public async Task A_web_server_process_is_reached_once_its_port_accepts_connections()
    {
        await fixture.NewAppAsync().WaitAsync(Limit);

        using var response = await _http.GetAsync(At("/it-py/"));
        var body = await response.Content.ReadAsStringAsync();

        response.StatusCode.Should().Be(HttpStatusCode.OK, body);
        body.Should().Contain("Directory listing for /");
    }

    [Fact]
    public async Task A_body_over_the_limit_gets_413_naming_the_limit_before_any_container_starts()
    {
        var appId = await fixture.NewAppAsync().WaitAsync(Limit);

        var (status, body) = await RawAsync($"POST /it-post/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {1L << 40}\r\nConnection: close\r\n\r\n");

        status.Should().Be(413);
        body.Should().Contain("A request body may be at most 67108864 bytes (64 MiB) through the gateway.");
        Containers(appId, "Buy").Should().Be(0);
    }

    [Fact]
    public async Task Hostile_requests_get_4xx_from_the_gateway_and_do_not_disturb_an_endpoint()
    {
        await fixture.NewAppAsync().WaitAsync(Limit);
        var hostile = new[]
        {
            "GET /it-get/?a=1&b=2 HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header Name: x\r\n\r\n",
            $"GET /it-get/?a=1&b=2 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {new string('a', 100_000)}\r\n\r\n",
            $"GET /{new string('x', 20_000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            "GET /it-ws/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 99\r\n\r\n",
            "POST /it-post/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "GET /../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            "GARBAGE\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: evil..localhost\r\n\r\n",
        };
        var statuses = new List<int>();
        for (var round = 0; round < 25; round++)
        {
            foreach (var request in hostile)
            {
                statuses.Add((await RawAsync(request)).Status);
            }
        }
        using var after = await _http.GetAsync(At("/it-get/?a=1&b=2"));

        statuses.Should().OnlyContain(s => s >= 400 && s < 500, "no hostile request makes the gateway fail");
        after.StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_request_without_progress_past_its_timeout_gets_504_naming_the_timeout()
    {
        await fixture.NewAppAsync().WaitAsync(Limit);
        using var gate = new TcpListener(ExecutionCounter.PrimaryAddress(), 0);
        gate.Start();
        var endpoint = (IPEndPoint)gate.LocalEndpoint;
        using var timeout = new CancellationTokenSource(Limit);

        // The handler waits at the gate, which the test never opens, so no byte moves until the gateway gives up
        // after 1 s. (On a loaded machine the gateway may give up before the handler even reaches the gate.)
        using var response = await _http.GetAsync(At($"/it-slow/?gate={endpoint.Address}:{endpoint.Port}"), timeout.Token);
        var body = await response.Content.ReadAsStringAsync(timeout.Token);

        response.StatusCode.Should().Be(HttpStatusCode.GatewayTimeout);
        JsonDocument.Parse(body).RootElement.GetProperty("error").GetString()
            .Should().Be("The endpoint 'it-slow' did not answer within its request timeout of 1 s.");
    }

    [Fact]
    public async Task Containers_that_never_start_give_503_with_the_reason_instead_of_a_hang()
    {
        await fixture.NewAppAsync().WaitAsync(Limit);

        using var response = await _http.GetAsync(At("/it-broken/"));
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString();

        response.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        error.Should().StartWith("Containers of 'NeverListens' failed to start 3 times in a row.");
    }

    /// <summary>Sends raw bytes to the gateway and reads its answer's status line, or all of it with Connection: close.</summary>
    private async Task<(int Status, string Body)> RawAsync(string request)
    {
        using var timeout = new CancellationTokenSource(Limit);
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Gateway.Port, timeout.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), timeout.Token);
        var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        // A request that keeps its connection open is done once the status line is in; one with Connection: close
        // is read to its end.
        var whole = request.Contains("Connection: close", StringComparison.Ordinal);
        while (buffer.Length < 65536 && (read = await stream.ReadAsync(chunk, timeout.Token)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (!whole && Encoding.ASCII.GetString(buffer.ToArray()).Contains("\r\n", StringComparison.Ordinal))
            {
                break;
            }
        }
        var text = Encoding.UTF8.GetString(buffer.ToArray());
        var status = text.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) ? int.Parse(text.AsSpan(9, 3), System.Globalization.CultureInfo.InvariantCulture) : 0;
        return (status, text);
    }
}
