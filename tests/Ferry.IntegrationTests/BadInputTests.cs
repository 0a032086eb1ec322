using System.Net;
using System.Net.Http.Json;
using System.Text;
using FluentAssertions;
using Ferry.Protocol;

namespace Ferry.IntegrationTests;

public sealed class BadInputTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private static async Task<(HttpStatusCode Status, ErrorResponse Error)> SendAsync(HttpClient http, HttpMethod method, string path, string? json)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
            // Lets the server refuse an oversized body before the client sends it, as it would for any large upload.
            request.Headers.ExpectContinue = true;
        }
        using var response = await http.SendAsync(request);
        var error = await response.Content.ReadFromJsonAsync(ProtocolJsonContext.Default.ErrorResponse);
        return (response.StatusCode, error!);
    }

    [Fact]
    public async Task Malformed_requests_get_400s_that_name_the_field()
    {
        var appId = await fixture.NewAppAsync();
        using var http = fixture.NewHttpClient();
        var calls = Routes.Calls(appId);

        var malformed = await SendAsync(http, HttpMethod.Post, calls, "{\"callId\": ");
        malformed.Status.Should().Be(HttpStatusCode.BadRequest);
        malformed.Error.Error.Should().Be(ErrorCodes.InvalidRequest);

        var missing = await SendAsync(http, HttpMethod.Post, calls, """{"function":"square","kind":"sync","inputs":[],"final":true}""");
        missing.Status.Should().Be(HttpStatusCode.BadRequest);
        missing.Error.Message.Should().Contain("callId");

        var wrongType = await SendAsync(http, HttpMethod.Post, calls, """{"callId":"c1","function":"square","kind":"sync","inputs":[{"index":"zero","args":[1]}],"final":true}""");
        wrongType.Status.Should().Be(HttpStatusCode.BadRequest);
        wrongType.Error.Message.Should().Contain("$.inputs[0].index");

        var notArray = await SendAsync(http, HttpMethod.Post, calls, """{"callId":"c2","function":"square","kind":"sync","inputs":[{"index":0,"args":5}],"final":true}""");
        notArray.Status.Should().Be(HttpStatusCode.BadRequest);
        notArray.Error.Message.Should().Contain("inputs[0].args");

        var badKind = await SendAsync(http, HttpMethod.Post, calls, """{"callId":"c3","function":"square","kind":"later","inputs":[],"final":true}""");
        badKind.Status.Should().Be(HttpStatusCode.BadRequest);
        badKind.Error.Message.Should().Contain("kind");
    }

    [Fact]
    public async Task Long_polls_with_a_non_finite_wait_or_a_negative_cursor_get_400s_that_name_the_parameter()
    {
        var appId = await fixture.NewAppAsync().WaitAsync(Limit);
        using var http = fixture.NewHttpClient();
        // An app that has logged nothing: a negative cursor on its log once spun the server without answering.
        var quiet = await (await http.PostAsJsonAsync(Routes.Apps, new CreateAppRequest("quiet"), ProtocolJsonContext.Default.CreateAppRequest).WaitAsync(Limit))
            .Content.ReadFromJsonAsync(ProtocolJsonContext.Default.CreateAppResponse).WaitAsync(Limit);
        var call = await fixture.Functions.Square.SpawnAsync(4).WaitAsync(Limit);
        var container = fixture.Scheduler.ListContainers(appId).First().ContainerId;
        string[] polls = [Routes.AppLogs(quiet!.AppId), Routes.Outputs(call.Id), Routes.ContainerLogs(container)];

        foreach (var poll in polls)
        {
            foreach (var (query, parameter) in new[] { ("wait=NaN", "'wait'"), ("wait=1e400", "'wait'"), ("wait=-Infinity", "'wait'"), ("after=-5", "'after'"), ("after=-9223372036854775808&wait=1", "'after'") })
            {
                var answer = await SendAsync(http, HttpMethod.Get, $"{poll}?{query}", null).WaitAsync(Limit);
                answer.Status.Should().Be(HttpStatusCode.BadRequest, $"{poll}?{query} is refused");
                answer.Error.Message.Should().Contain(parameter);
            }
        }
        var empty = await http.GetFromJsonAsync(Routes.AppLogs(quiet.AppId, 0, TimeSpan.FromSeconds(-1)), ProtocolJsonContext.Default.LogBatch).WaitAsync(Limit);
        empty!.Entries.Should().BeEmpty("a negative wait still means no wait");
        (await call.GetAsync().WaitAsync(Limit)).Should().Be(16);
    }

    [Fact]
    public async Task Unknown_apps_functions_and_calls_get_404s()
    {
        var appId = await fixture.NewAppAsync();
        using var http = fixture.NewHttpClient();

        var app = await SendAsync(http, HttpMethod.Post, Routes.Calls("ap-nope"), """{"callId":"c","function":"square","kind":"sync","inputs":[],"final":true}""");
        app.Status.Should().Be(HttpStatusCode.NotFound);
        app.Error.Message.Should().Contain("ap-nope");

        var function = await SendAsync(http, HttpMethod.Post, Routes.Calls(appId), """{"callId":"c","function":"cube","kind":"sync","inputs":[],"final":true}""");
        function.Status.Should().Be(HttpStatusCode.NotFound);
        function.Error.Message.Should().Contain("'cube'").And.Contain("square");

        var call = await SendAsync(http, HttpMethod.Get, Routes.Outputs("fc-missing"), null);
        call.Status.Should().Be(HttpStatusCode.NotFound);

        var route = await SendAsync(http, HttpMethod.Get, "v1/nothing-here", null);
        route.Status.Should().Be(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Oversized_payloads_get_413s_that_name_the_limit_and_other_work_goes_on()
    {
        var appId = await fixture.NewAppAsync();
        using var http = fixture.NewHttpClient();

        var huge = new string('x', 17 * 1024 * 1024);
        var body = await SendAsync(http, HttpMethod.Post, Routes.Calls(appId), $$"""{"callId":"big","function":"echo","kind":"sync","inputs":[{"index":0,"args":["{{huge}}"]}],"final":true}""");
        body.Status.Should().Be(HttpStatusCode.RequestEntityTooLarge);
        body.Error.Message.Should().Contain("16 MiB");

        var inline = new string('x', 3 * 1024 * 1024);
        var input = await SendAsync(http, HttpMethod.Post, Routes.Calls(appId), $$"""{"callId":"big2","function":"echo","kind":"sync","inputs":[{"index":0,"args":["{{inline}}"]}],"final":true}""");
        input.Status.Should().Be(HttpStatusCode.RequestEntityTooLarge);
        input.Error.Message.Should().Contain("2 MiB");

        var many = string.Join(",", Enumerable.Range(0, 10_001).Select(i => $$"""{"index":{{i}},"args":[1]}"""));
        var count = await SendAsync(http, HttpMethod.Post, Routes.Calls(appId), $$"""{"callId":"many","function":"square","kind":"map","inputs":[{{many}}],"final":true}""");
        count.Status.Should().Be(HttpStatusCode.RequestEntityTooLarge);
        count.Error.Message.Should().Contain("10000");

        (await fixture.Functions.Square.RemoteAsync(9)).Should().Be(81, "bad requests must not disturb the server");
    }

    [Fact]
    public void A_type_that_cannot_be_serialized_is_rejected_at_definition_naming_the_type()
    {
        var app = new App("bad");

        var act = () => app.Function<Stream, int>(_ => 1, name: "reads_stream");

        act.Should().Throw<InvalidRequestException>().WithMessage("*reads_stream*Stream*");
    }
}
