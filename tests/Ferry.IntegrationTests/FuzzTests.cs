using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using FluentAssertions;
using Ferry.IntegrationTests.Fuzzing;
using Ferry.Protocol;
using Xunit.Abstractions;

namespace Ferry.IntegrationTests;

/// <summary>
/// A bounded, seeded fuzz of the whole HTTP API against a real server and worker: thousands of malformed and hostile
/// requests on every route the server maps, none of which may get a 5xx, hang, or break the app they aim at.
/// FERRY_FUZZ_SEED and FERRY_FUZZ_REQUESTS replay a failure or explore further.
/// </summary>
public sealed class FuzzTests(ServerFixture fixture, ITestOutputHelper output) : IClassFixture<ServerFixture>
{
    private const int DefaultSeed = 20_260_101;
    private const int DefaultRequests = 12_000;
    private const int Concurrency = 8;
    private const string VictimName = "fuzz-victim";

    // A route's key, as FuzzRoute names it, is its method and its template under the prefix.
    private const string Post = "POST " + ProtocolInfo.Prefix;
    private const string Put = "PUT " + ProtocolInfo.Prefix;
    private const string QuietName = "fuzz-quiet";
    private static readonly TimeSpan RequestLimit = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Hostile_requests_on_every_route_get_no_server_error_no_hang_and_leave_the_app_working()
    {
        var seed = Setting("FERRY_FUZZ_SEED", DefaultSeed);
        var count = Setting("FERRY_FUZZ_REQUESTS", DefaultRequests);
        // In a fixed order, so that a seed names the same requests however the server's code maps its routes.
        var routes = fixture.Server.Routes.SelectMany(FuzzRoute.From).OrderBy(r => r.Key, StringComparer.Ordinal).ToList();
        routes.Should().HaveCountGreaterThan(30, "every route the server maps is fuzzed");
        var world = await World.CreateAsync(fixture);
        var generator = new RequestGenerator(new Random(seed), world.Targets(fixture));
        var requests = Enumerable.Range(0, count).Select(i => generator.Next(i, routes[i % routes.Count])).ToList();

        var watch = Stopwatch.StartNew();
        using var handler = Credentials.Handler(fixture.Fingerprint);
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        var outcomes = await FuzzRunner.RunAsync(fixture.Url, handler, requests, Concurrency, RequestLimit, deadline.Token);
        watch.Stop();

        Report(seed, outcomes, watch.Elapsed);
        var failures = outcomes.Where(o => o.Failure is not null).ToList();
        failures.Count.Should().Be(0,
            "no request may get a 5xx or hang; with seed {0}, {1} of {2} failed, the first ones:\n{3}\n",
            seed, failures.Count, outcomes.Count, string.Join("\n", failures.Take(15).Select(f => $"{f.Failure} <- {f.Request.Describe()}")));
        outcomes.Should().HaveCount(count);
        outcomes.GroupBy(o => o.Request.Route.Key).Should().HaveCount(routes.Count, "every route was fuzzed");

        // The victim goes first, so that whatever it was legitimately told to keep running leaves the worker.
        using var http = fixture.NewHttpClient();
        (await http.PostAsync(Routes.StopApp(world.VictimId), null).WaitAsync(Limit)).StatusCode.Should().Be(HttpStatusCode.OK);
        var app = await http.GetFromJsonAsync(Routes.App(world.AppId), ProtocolJsonContext.Default.AppSummary).WaitAsync(Limit);
        app!.State.Should().Be("running", "the fuzzed app is never stopped by the fuzz, only refused or served");
        (await fixture.Functions.Square.RemoteAsync(7).WaitAsync(Limit)).Should().Be(49);
        (await fixture.LogsAsync(world.AppId).WaitAsync(Limit)).Should().NotBeEmpty();
    }

    private void Report(int seed, IReadOnlyList<FuzzOutcome> outcomes, TimeSpan elapsed)
    {
        output.WriteLine($"seed {seed}: {outcomes.Count} requests in {elapsed.TotalSeconds:0.0} s ({outcomes.Count / elapsed.TotalSeconds:0} per second)");
        foreach (var group in outcomes.GroupBy(o => o.Status?.ToString(CultureInfo.InvariantCulture) ?? "none").OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"  status {group.Key}: {group.Count()}");
        }
        foreach (var group in outcomes.GroupBy(o => o.Request.Route.Key).Concat(outcomes.GroupBy(o => $"credential {o.Request.Credential}")).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var statuses = group.GroupBy(o => o.Status?.ToString(CultureInfo.InvariantCulture) ?? "none").OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key}x{g.Count()}");
            output.WriteLine($"  {group.Key}: {string.Join(' ', statuses)}");
        }
        foreach (var group in outcomes.Where(o => o.Failure is not null).GroupBy(o => $"{o.Request.Route.Key}: {o.Status?.ToString(CultureInfo.InvariantCulture) ?? "no status"}"))
        {
            output.WriteLine($"  failures on {group.Key}: {group.Count()}");
        }
        foreach (var failure in outcomes.Where(o => o.Failure is not null).Take(200))
        {
            output.WriteLine($"  FAILED {failure.Failure} <- {failure.Request.Describe()}");
        }
    }

    private static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : fallback;

    /// <summary>
    /// The real things the fuzz aims at: an app with live containers, a finished call, open calls, a build, its blobs,
    /// a throwaway token, and an app that has published nothing and logged nothing. A second app takes the stops and
    /// redefinitions, so that the fuzzed app keeps running with its definition and can be called at the end; the
    /// fixture's own tokens and worker are never targets.
    /// </summary>
    private sealed record World(
        string AppId,
        string VictimId,
        string QuietId,
        string BuildId,
        BuildManifest Build,
        string DoneCall,
        string OpenCall,
        string CancellableCall,
        IReadOnlyList<string> Containers,
        string ContainerToken,
        string TokenId)
    {
        private const string MissingHash = "1111111111111111111111111111111111111111111111111111111111111111";

        public static async Task<World> CreateAsync(ServerFixture fixture)
        {
            var appId = await fixture.NewAppAsync().WaitAsync(Limit);
            (await fixture.Functions.Square.RemoteAsync(3).WaitAsync(Limit)).Should().Be(9);
            var done = await fixture.Functions.Square.SpawnAsync(6).WaitAsync(Limit);
            (await done.GetAsync().WaitAsync(Limit)).Should().Be(36);
            using var victim = await fixture.CreateAppAsync(VictimName).WaitAsync(Limit);
            using var http = fixture.NewHttpClient();
            var quiet = await (await http.PostAsJsonAsync(Routes.Apps, new CreateAppRequest(QuietName), ProtocolJsonContext.Default.CreateAppRequest).WaitAsync(Limit))
                .Content.ReadFromJsonAsync(ProtocolJsonContext.Default.CreateAppResponse).WaitAsync(Limit);
            foreach (var callId in new[] { "fuzz-open", "fuzz-cancellable" })
            {
                var open = new CreateCallRequest(callId, "square", CallKinds.Map, [new InputItem(0, JsonSerializer.SerializeToElement(new[] { 2 }))], Final: false);
                (await http.PostAsJsonAsync(Routes.Calls(appId), open, ProtocolJsonContext.Default.CreateCallRequest).WaitAsync(Limit)).StatusCode.Should().Be(HttpStatusCode.OK);
            }
            var buildId = fixture.Scheduler.GetApp(appId).BuildId!;
            var build = await http.GetFromJsonAsync(Routes.Build(buildId), ProtocolJsonContext.Default.BuildManifest).WaitAsync(Limit);
            var token = await (await http.PostAsJsonAsync(Routes.Tokens, new CreateTokenRequest("fuzz-throwaway"), ProtocolJsonContext.Default.CreateTokenRequest).WaitAsync(Limit))
                .Content.ReadFromJsonAsync(ProtocolJsonContext.Default.CreateTokenResponse).WaitAsync(Limit);
            var containers = fixture.Scheduler.ListContainers(null).Select(c => c.ContainerId).ToList();
            // The warm function keeps a container whatever the load; no route is given its id to stop it.
            var warm = fixture.Scheduler.ListContainers(appId).First(c => c.Function == "warm").ContainerId;
            var containerToken = $"{warm}.{fixture.Scheduler.FindContainer(warm)!.Token}";
            return new World(appId, victim.AppId, quiet!.AppId, buildId, build!, done.Id, "fuzz-open", "fuzz-cancellable", containers, containerToken, token!.Token.TokenId);
        }

        public FuzzTargets Targets(ServerFixture fixture) => new(RealValues, Sample, AnySample, fixture.AdminToken, fixture.WorkerToken, ContainerToken);

        private IReadOnlyList<string> RealValues(FuzzRoute route, string parameter)
        {
            // What a route can break is aimed at the victim app, the throwaway token and containers other than the one
            // whose token some requests carry.
            var destructive = route.Key is Post + Routes.Templates.StopApp or Put + Routes.Templates.Definition;
            return (parameter, route.SegmentBefore(parameter)) switch
            {
                ("app", _) when destructive => [VictimId, VictimName],
                ("app", _) => [AppId, "ferry-tests", VictimId, VictimName, QuietId, QuietName],
                ("function", _) => ["square", "warm", "Square", "echo"],
                ("hash", _) => [Build.Files[0].Hash, MissingHash],
                ("id", "builds") => [BuildId],
                ("id", "calls") when route.Key == Post + Routes.Templates.CancelCall => [DoneCall, CancellableCall],
                ("id", "calls") => [DoneCall, OpenCall, CancellableCall],
                ("id", "containers") when route.Key == Post + Routes.Templates.StopContainer => [.. Containers.Where(c => !ContainerToken.StartsWith(c + ".", StringComparison.Ordinal))],
                ("id", "containers") => Containers,
                ("id", "tokens") => [TokenId],
                ("id", "sessions") => ["ss-0000000000000000"],
                _ => [VictimId, QuietId, BuildId, DoneCall, .. Containers, "square"],
            };
        }

        /// <summary>A valid body of the route's request record, different per request where ids must differ.</summary>
        private JsonNode? Sample(FuzzRoute route, int number) => route.Key switch
        {
            Post + Routes.Templates.MissingBlobs => Node(new MissingBlobsRequest([Build.Files[0].Hash, MissingHash]), ProtocolJsonContext.Default.MissingBlobsRequest),
            Post + Routes.Templates.Builds => Node(new CreateBuildRequest(Build.EntryAssembly, [.. Build.Files.Where(f => f.Path == Build.EntryAssembly), .. Build.Files.Take(2)]),
                ProtocolJsonContext.Default.CreateBuildRequest),
            Post + Routes.Templates.Apps => Node(new CreateAppRequest("fuzz-created", BuildId, Detached: number % 2 == 0, Definition: number % 3 == 0 ? Definition() : null),
                ProtocolJsonContext.Default.CreateAppRequest),
            Put + Routes.Templates.Definition => Node(Definition(), ProtocolJsonContext.Default.AppDefinition),
            Post + Routes.Templates.Calls => Node(new CreateCallRequest(
                $"fuzz-{number}", "square", number % 3 == 0 ? CallKinds.Map : CallKinds.Spawn, [new InputItem(0, Args(number % 100))], Final: true,
                Pool: number % 4 == 0 ? new PoolSpec(null, new FunctionSettings { MaxContainers = 1 }) : null), ProtocolJsonContext.Default.CreateCallRequest),
            Post + Routes.Templates.Inputs => Node(new AddInputsRequest([new InputItem(number % 1000 + 1, Args(number % 50))], Final: false), ProtocolJsonContext.Default.AddInputsRequest),
            Post + Routes.Templates.Stats => Node(Pool(), ProtocolJsonContext.Default.PoolSpec),
            Post + Routes.Templates.Autoscaler => Node(new AutoscalerUpdate(0, 4, 0, 30, number % 3 == 0 ? Pool() : null), ProtocolJsonContext.Default.AutoscalerUpdate),
            Post + Routes.Templates.Tokens => Node(new CreateTokenRequest("fuzz-token", number % 2 == 0 ? TokenKinds.Client : TokenKinds.Worker), ProtocolJsonContext.Default.CreateTokenRequest),
            _ => null,
        };

        private static readonly string[] SampleRoutes =
        [
            Post + Routes.Templates.MissingBlobs, Post + Routes.Templates.Builds, Post + Routes.Templates.Apps, Put + Routes.Templates.Definition, Post + Routes.Templates.Calls,
            Post + Routes.Templates.Inputs, Post + Routes.Templates.Stats, Post + Routes.Templates.Autoscaler, Post + Routes.Templates.Tokens,
        ];

        private JsonNode AnySample(int number)
        {
            var key = SampleRoutes[number % SampleRoutes.Length].Split(' ', 2);
            return Sample(new FuzzRoute(key[1], key[0], [], []), number)!;
        }

        private AppDefinition Definition() => new(
            "fuzz-definition",
            [new FunctionDefinition("square", [new ParameterDefinition("x", "int", true, JsonSerializer.SerializeToElement(0))], "int", new FunctionSettings
            {
                Retries = new RetryPolicy(1),
                MaxContainers = 2,
                Image = new ImageSpec(ImageBases.DebianSlim,
                [
                    new ImageStep(ImageStepKinds.AptInstall, ["jq"]),
                    new ImageStep(ImageStepKinds.Env, ["MODE=fuzz"]),
                    new ImageStep(ImageStepKinds.Workdir, ["/root"]),
                    new ImageStep(ImageStepKinds.AddLocal, ["/root/data", "file", "copy"], Files: [new BuildFile("data", Build.Files[0].Hash, Build.Files[0].Size)]),
                ]),
            })],
            [new EntrypointDefinition("main", [new ParameterDefinition("n", "int", false)])]);

        private static PoolSpec Pool() => new(
            JsonSerializer.SerializeToElement(new Dictionary<string, object> { ["size"] = 3, ["name"] = "pool" }),
            new FunctionSettings { Cpu = 0.5, MemoryMiB = 256, MaxContainers = 1, Retries = new RetryPolicy(1), Gpu = ["A10G"] });

        private static JsonElement Args(int x) => JsonSerializer.SerializeToElement(new[] { x });

        private static JsonNode Node<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo) =>
            JsonSerializer.SerializeToNode(value, typeInfo)!;
    }
}
