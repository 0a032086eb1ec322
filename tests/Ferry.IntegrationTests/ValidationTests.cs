using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FluentAssertions;
using Ferry.Protocol;

namespace Ferry.IntegrationTests;

/// <summary>Bodies that deserialize but break the rules are refused with a 400 that names the field, and change nothing.</summary>
public sealed class ValidationTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private const string Hash = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

    // A value no setting accepts, swapped in as text: a JSON number such as 1e400 has no double to write it from.
    private const double Marker = 12345.678;

    private static readonly ProtocolJsonContext Json = ProtocolJsonContext.Default;

    private static async Task<(HttpStatusCode Status, ErrorResponse? Error)> SendAsync(HttpClient http, HttpMethod method, string path, string json)
    {
        using var request = new HttpRequestMessage(method, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request);
        var error = response.StatusCode == HttpStatusCode.BadRequest ? await response.Content.ReadFromJsonAsync(Json.ErrorResponse) : null;
        return (response.StatusCode, error);
    }

    private static void ShouldBeRefused((HttpStatusCode Status, ErrorResponse? Error) answer, string message)
    {
        answer.Status.Should().Be(HttpStatusCode.BadRequest);
        answer.Error!.Error.Should().Be(ErrorCodes.InvalidRequest);
        answer.Error.Message.Should().StartWith(message);
    }

    /// <summary>The test app's definition with only its first function, whose image has the given steps.</summary>
    private string DefinitionWithSteps(string steps)
    {
        var definition = JsonNode.Parse(JsonSerializer.Serialize(fixture.Functions.App.ToDefinition(), Json.AppDefinition))!;
        var first = definition["functions"]![0]!.DeepClone();
        first["settings"]!["image"] = JsonNode.Parse($$"""{"base":"{{ImageBases.DebianSlim}}","steps":[{{steps}}]}""");
        definition["functions"] = new JsonArray(first);
        return definition.ToJsonString();
    }

    /// <summary>The settings of the test app's <c>square</c> function as JSON, with one field set to the raw JSON number given.</summary>
    private string SquareSettingsWith(string field, string number)
    {
        var settings = JsonNode.Parse(JsonSerializer.Serialize(fixture.Functions.Square.Options.ToSettings(null), Json.FunctionSettings))!;
        settings[field] = Marker;
        return settings.ToJsonString().Replace(Marker.ToString(System.Globalization.CultureInfo.InvariantCulture), number, StringComparison.Ordinal);
    }

    private async Task<int> FunctionCountAsync(HttpClient http, string appId) =>
        (await http.GetFromJsonAsync(Routes.App(appId), Json.AppSummary))!.Functions;

    [Fact]
    public async Task A_definition_whose_image_writes_outside_it_gets_a_400_naming_the_field_and_changes_nothing()
    {
        var appId = await fixture.NewAppAsync();
        using var http = fixture.NewHttpClient();
        var path = Routes.Definition(appId);
        var functions = await FunctionCountAsync(http, appId);

        var target = await SendAsync(http, HttpMethod.Put, path, DefinitionWithSteps(
            $$"""{"kind":"add_local","args":["/../../../tmp/ferry-escape","dir","copy"],"files":[{"path":"x","hash":"{{Hash}}","size":3}]}"""));
        var workdir = await SendAsync(http, HttpMethod.Put, path, DefinitionWithSteps("""{"kind":"env","args":["A=1"]},{"kind":"workdir","args":["/srv/../../etc"]}"""));
        var file = await SendAsync(http, HttpMethod.Put, path, DefinitionWithSteps(
            $$"""{"kind":"add_local","args":["/data","dir","copy"],"files":[{"path":"../../etc/cron.d/x","hash":"{{Hash}}","size":3}]}"""));

        ShouldBeRefused(target, "The field 'functions[0].settings.image.steps[0].args[0]' must be an absolute path in the container without empty, '.' or '..' segments");
        ShouldBeRefused(workdir, "The field 'functions[0].settings.image.steps[1].args[0]' must be an absolute path in the container without empty, '.' or '..' segments");
        ShouldBeRefused(file, "The field 'functions[0].settings.image.steps[0].files[0].path' must be a relative path");
        (await FunctionCountAsync(http, appId)).Should().Be(functions, "the refused definitions, which had one function, were not applied");
        (await fixture.Functions.Add.RemoteAsync(2, 3)).Should().Be(5);
    }

    [Fact]
    public async Task A_definition_with_a_null_function_gets_a_400_and_the_app_keeps_working()
    {
        var appId = await fixture.NewAppAsync();
        using var http = fixture.NewHttpClient();
        var path = Routes.Definition(appId);

        var bare = await SendAsync(http, HttpMethod.Put, path, """{"functions":[null]}""");
        var complete = await SendAsync(http, HttpMethod.Put, path, """{"name":"ferry-tests","functions":[null],"entrypoints":[]}""");
        var stillWorks = await fixture.Functions.Square.RemoteAsync(6);
        var valid = await SendAsync(http, HttpMethod.Put, path, JsonSerializer.Serialize(fixture.Functions.App.ToDefinition(), Json.AppDefinition));

        bare.Status.Should().Be(HttpStatusCode.BadRequest);
        ShouldBeRefused(complete, "The field 'functions[0]' must not be null.");
        stillWorks.Should().Be(36);
        valid.Status.Should().Be(HttpStatusCode.NoContent);
        (await fixture.Functions.Square.RemoteAsync(7)).Should().Be(49);
    }

    [Fact]
    public async Task A_pool_override_or_autoscaler_value_out_of_range_gets_a_400_and_changes_nothing()
    {
        var appId = await fixture.NewAppAsync();
        using var http = fixture.NewHttpClient();
        var stats = Routes.Stats(appId, "square");
        var autoscaler = Routes.Autoscaler(appId, "square");
        var pools = fixture.Scheduler.PoolsOfApp(appId).Select(p => (p.PoolId, p.Settings)).ToList();

        var infinite = await SendAsync(http, HttpMethod.Post, stats, $$"""{"overrides":{{SquareSettingsWith("timeoutSeconds", "1e400")}}}""");
        var huge = await SendAsync(http, HttpMethod.Post, stats, $$"""{"overrides":{{SquareSettingsWith("timeoutSeconds", "1e300")}}}""");
        var cpu = await SendAsync(http, HttpMethod.Post, stats, $$"""{"overrides":{{SquareSettingsWith("cpu", "1000")}}}""");
        var call = await SendAsync(http, HttpMethod.Post, Routes.Calls(appId),
            $$"""{"callId":"bad-pool","function":"square","kind":"sync","inputs":[{"index":0,"args":[2]}],"final":true,"pool":{"overrides":{{SquareSettingsWith("scaledownWindowSeconds", "-1e400")}}}""" + "}");
        var window = await SendAsync(http, HttpMethod.Post, autoscaler, """{"scaledownWindowSeconds":1e400}""");
        var windowHuge = await SendAsync(http, HttpMethod.Post, autoscaler, """{"minContainers":0,"scaledownWindowSeconds":1e12}""");
        var autoscalerPool = await SendAsync(http, HttpMethod.Post, autoscaler, $$"""{"maxContainers":2,"pool":{"overrides":{{SquareSettingsWith("memoryMiB", "8")}}}""" + "}");
        var capped = await SendAsync(http, HttpMethod.Post, Routes.Autoscaler(appId, "burst"), """{"minContainers":3}""");

        ShouldBeRefused(infinite, "The field 'overrides.timeoutSeconds' must be a finite number, not Infinity.");
        ShouldBeRefused(huge, "The field 'overrides.timeoutSeconds' must be between 1 and 86400 seconds, not 1E+300.");
        ShouldBeRefused(cpu, "The field 'overrides.cpu' must be between 0.125 and 64 cores, not 1000.");
        ShouldBeRefused(call, "The field 'pool.overrides.scaledownWindowSeconds' must be a finite number, not -Infinity.");
        ShouldBeRefused(window, "The field 'scaledownWindowSeconds' must be a finite number, not Infinity.");
        ShouldBeRefused(windowHuge, "The field 'scaledownWindowSeconds' must be more than 0 and at most 86400 seconds, not 1000000000000.");
        ShouldBeRefused(autoscalerPool, "The field 'pool.overrides.memoryMiB' must be between 32 and 1048576 MiB, not 8.");
        ShouldBeRefused(capped, "The field 'minContainers' (3) must not exceed 'maxContainers' (2), which is in force for this function.");
        fixture.Scheduler.PoolsOfApp(appId).Select(p => (p.PoolId, p.Settings)).Should().Equal(pools, "no pool was made or changed");
        (await fixture.Functions.Square.GetCurrentStatsAsync()).Backlog.Should().Be(0, "the refused call queued nothing");
        (await fixture.Functions.Square.RemoteAsync(8)).Should().Be(64);
    }

    [Fact]
    public async Task A_lone_surrogate_in_pool_parameters_gets_a_400_naming_the_field()
    {
        var appId = await fixture.NewAppAsync();
        using var http = fixture.NewHttpClient();
        var pools = fixture.Scheduler.PoolsOfApp(appId).Count;

        var answer = await SendAsync(http, HttpMethod.Post, Routes.Stats(appId, "Counter.Next"), """{"parameters":{"label":"x\ud800"}}""");

        ShouldBeRefused(answer, "The field 'parameters.label' is not valid UTF-16: it has a lone surrogate.");
        fixture.Scheduler.PoolsOfApp(appId).Count.Should().Be(pools);
    }

    [Fact]
    public async Task A_build_with_a_path_outside_it_or_a_null_in_a_list_gets_a_400()
    {
        var appId = await fixture.NewAppAsync();
        using var http = fixture.NewHttpClient();

        var parent = await SendAsync(http, HttpMethod.Post, Routes.Builds, $$"""{"entryAssembly":"a.dll","files":[{"path":"a.dll","hash":"{{Hash}}","size":3},{"path":"../x","hash":"{{Hash}}","size":3}]}""");
        var absolute = await SendAsync(http, HttpMethod.Post, Routes.Builds, $$"""{"entryAssembly":"a.dll","files":[{"path":"/etc/passwd","hash":"{{Hash}}","size":3}]}""");
        var entry = await SendAsync(http, HttpMethod.Post, Routes.Builds, $$"""{"entryAssembly":"../a.dll","files":[{"path":"a.dll","hash":"{{Hash}}","size":3}]}""");
        var nullFile = await SendAsync(http, HttpMethod.Post, Routes.Builds, """{"entryAssembly":"a.dll","files":[null]}""");
        var nullHash = await SendAsync(http, HttpMethod.Post, Routes.MissingBlobs, """{"hashes":[null]}""");
        var nullInput = await SendAsync(http, HttpMethod.Post, Routes.Calls(appId), """{"callId":"null-input","function":"square","kind":"map","inputs":[null],"final":true}""");

        ShouldBeRefused(parent, "The field 'files[1].path' must be a relative path with '/' separators and without empty, '.' or '..' segments, not '../x'.");
        ShouldBeRefused(absolute, "The field 'files[0].path' must be a relative path with '/' separators and without empty, '.' or '..' segments, not '/etc/passwd'.");
        ShouldBeRefused(entry, "The field 'entryAssembly' must be a relative path without empty, '.' or '..' segments, not '../a.dll'.");
        ShouldBeRefused(nullFile, "The field 'files[0]' must not be null.");
        ShouldBeRefused(nullHash, "The field 'hashes[0]' must not be null.");
        ShouldBeRefused(nullInput, "The field 'inputs[0]' must not be null.");
    }
}
