using System.Text.Json;
using System.Text.Json.Nodes;
using FluentAssertions;
using Ferry.Protocol;
using Ferry.Protocol.Validation;

namespace Ferry.Tests;

public sealed class WireValidatorTests
{
    private const string Hash = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
    private static readonly ProtocolJsonContext Json = ProtocolJsonContext.Default;

    /// <summary>
    /// Settings as JSON: the documented defaults with the given fields on top. The generated deserializer leaves a
    /// missing field at zero rather than at its default, so the tests send every field, as the SDK does.
    /// </summary>
    private static string Settings(string fields)
    {
        var settings = JsonNode.Parse(JsonSerializer.Serialize(new FunctionSettings(), Json.FunctionSettings))!.AsObject();
        foreach (var (name, value) in JsonNode.Parse(fields)!.AsObject().ToList())
        {
            settings[name] = value?.DeepClone();
        }
        return settings.ToJsonString();
    }

    /// <summary>A definition of one function whose image has the given steps, as JSON.</summary>
    private static string WithSteps(string steps) =>
        """{"name":"app","functions":[{"name":"f","parameters":[],"returnType":"Int32","settings":"""
        + Settings("""{"image":{"base":"debian-bookworm-minbase","steps":[""" + steps + "]}}")
        + """}],"entrypoints":[]}""";

    private static string? CheckDefinition(string json) => WireValidator.Check(JsonSerializer.Deserialize(json, Json.AppDefinition)!);

    private static string? CheckSettings(string fields) => WireValidator.Check(JsonSerializer.Deserialize(Settings(fields), Json.FunctionSettings)!);

    [Fact]
    public void A_definition_made_by_the_sdk_passes_as_sent_over_the_wire()
    {
        var dir = Directory.CreateTempSubdirectory("ferry-validator-test").FullName;
        File.WriteAllText(Path.Combine(dir, "a.txt"), "alpha");
        Directory.CreateDirectory(Path.Combine(dir, "sub"));
        File.WriteAllText(Path.Combine(dir, "sub", "b.txt"), "beta");
        var image = Image.DebianSlim()
            .AptInstall("jq", "curl=7.88.1-10+deb12u12")
            .RunCommands("echo hi > /hi")
            .Env("MODE", "test")
            .Workdir("/srv/work/")
            .AddLocalFile(Path.Combine(dir, "a.txt"), "/data/a.txt", copy: true)
            .RunFunction(BuildStep)
            .AddLocalDir(dir, "/mnt/data");
        var app = new App("validated", image);
        app.Function<int, int>(x => x, new FunctionOptions
        {
            Timeout = TimeSpan.FromHours(24),
            Retries = new Retries(10) { BackoffCoefficient = 10, InitialDelay = TimeSpan.FromSeconds(60), MaxDelay = TimeSpan.FromSeconds(60) },
            MinContainers = 2,
            MaxContainers = 2,
            BufferContainers = 1,
            ScaledownWindow = TimeSpan.FromHours(24),
            Cpu = 0.125,
            Memory = 1024 * 1024,
            Gpu = "A100-80GB:8, h100",
            MaxInputs = 1000,
            TargetInputs = 1000,
        }, name: "limits");
        app.BatchedFunction<string, string>(items => items, maxBatchSize: 1000, wait: TimeSpan.FromMinutes(10), name: "batched");
        app.Cls<Greeter>(new FunctionOptions { Cpu = 64, Memory = 32, Timeout = TimeSpan.FromSeconds(1) });
        app.LocalEntrypoint((string who, int times) => { }, name: "main");

        var sent = JsonSerializer.Deserialize(JsonSerializer.Serialize(app.ToDefinition(), Json.AppDefinition), Json.AppDefinition)!;

        sent.Functions.Select(f => f.Name).Should().Contain(["limits", "batched", "Greeter.Hello"]);
        WireValidator.Check(sent).Should().BeNull();
        WireValidator.Check(new CreateAppRequest("validated", Definition: sent)).Should().BeNull();
    }

    [Theory]
    [InlineData("/data/../../etc")]
    [InlineData("/..")]
    [InlineData("data")]
    [InlineData("")]
    [InlineData("/data/")]
    [InlineData("/data//x")]
    [InlineData("/data/./x")]
    [InlineData("/data\u0000x")]
    public void An_add_local_target_that_is_not_a_normal_absolute_path_is_named(string target)
    {
        var step = $$"""{"kind":"add_local","args":[{{JsonSerializer.Serialize(target)}},"dir","copy"],"files":[]}""";

        CheckDefinition(WithSteps(step)).Should().StartWith("The field 'functions[0].settings.image.steps[0].args[0]' must be an absolute path");
    }

    [Fact]
    public void A_workdir_that_climbs_out_is_named()
    {
        CheckDefinition(WithSteps("""{"kind":"env","args":["A=1"]},{"kind":"workdir","args":["/srv/../../.."]}"""))
            .Should().Be("The field 'functions[0].settings.image.steps[1].args[0]' must be an absolute path in the container without empty, '.' or '..' segments, such as /root/data, not '/srv/../../..'.");
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("a/../../x")]
    [InlineData("/etc/passwd")]
    [InlineData("a//b")]
    [InlineData("./a")]
    [InlineData("a/")]
    [InlineData("")]
    public void A_file_path_in_an_add_local_step_must_be_relative_and_normal(string path)
    {
        var step = $$"""{"kind":"add_local","args":["/data","dir","copy"],"files":[{"path":"ok.txt","hash":"{{Hash}}","size":1},{"path":{{JsonSerializer.Serialize(path)}},"hash":"{{Hash}}","size":1}]}""";

        CheckDefinition(WithSteps(step)).Should().StartWith("The field 'functions[0].settings.image.steps[0].files[1].path' must be a relative path");
    }

    [Theory]
    [InlineData("""{"kind":"docker","args":["x"]}""", "steps[0].kind", "must be one of apt_install, run_commands, env, workdir, add_local, run_function, not 'docker'")]
    [InlineData("""{"kind":"workdir","args":["/a","/b"]}""", "steps[0].args", "of a workdir step must hold 1 arguments, not 2")]
    [InlineData("""{"kind":"add_local","args":["/a","dir"],"files":[]}""", "steps[0].args", "of a add_local step must hold 3 arguments, not 2")]
    [InlineData("""{"kind":"apt_install","args":[]}""", "steps[0].args", "of a apt_install step must hold at least 1 arguments, not 0")]
    [InlineData("""{"kind":"run_function","args":["f"]}""", "steps[0].args", "of a run_function step must hold 2 to 3 arguments, not 1")]
    [InlineData("""{"kind":"apt_install","args":["jq; rm -rf /"]}""", "steps[0].args[0]", "must be a Debian package name")]
    [InlineData("""{"kind":"apt_install","args":["jq\n"]}""", "steps[0].args[0]", "must be a Debian package name")]
    [InlineData("""{"kind":"env","args":["1A=x"]}""", "steps[0].args[0]", "must be NAME=value")]
    [InlineData("""{"kind":"env","args":["NOVALUE"]}""", "steps[0].args[0]", "must be NAME=value")]
    [InlineData("""{"kind":"run_commands","args":["echo", "  "]}""", "steps[0].args[1]", "must not be an empty command")]
    [InlineData("""{"kind":"add_local","args":["/a","link","copy"],"files":[]}""", "steps[0].args[1]", "must be \"file\" or \"dir\"")]
    [InlineData("""{"kind":"add_local","args":["/a","dir","move"],"files":[]}""", "steps[0].args[2]", "must be \"copy\" or \"mount\"")]
    [InlineData("""{"kind":"add_local","args":["/a","dir","copy"]}""", "steps[0].files", "must list the files the step adds")]
    [InlineData("""{"kind":"add_local","args":["/a","file","copy"],"files":[]}""", "steps[0].files", "of a single file must hold 1 file, not 0")]
    [InlineData("""{"kind":"add_local","args":["/a","dir","copy"],"files":[{"path":"x","hash":"ABC","size":1}]}""", "steps[0].files[0].hash", "must be a lower-case SHA-256 hash")]
    [InlineData("""{"kind":"add_local","args":["/a","dir","copy"],"files":[{"path":"x","hash":"HASH","size":-1}]}""", "steps[0].files[0].size", "must not be negative")]
    [InlineData("""{"kind":"add_local","args":["/a","dir","copy"],"files":[{"path":"x","hash":"HASH","size":1},{"path":"x","hash":"HASH","size":1}]}""", "steps[0].files[1].path", "repeats the path 'x'")]
    [InlineData("""{"kind":"run_commands","args":["ls"],"files":[]}""", "steps[0].files", "belongs only to add_local steps")]
    [InlineData("""{"kind":"add_local","args":["/a","dir","mount"],"files":[]},{"kind":"run_commands","args":["ls /a"]}""", "steps[1]", "(run_commands) must not follow the mounted files of steps[0]")]
    public void Each_image_step_rule_names_the_field(string steps, string field, string rule)
    {
        CheckDefinition(WithSteps(steps.Replace("HASH", Hash, StringComparison.Ordinal)))
            .Should().StartWith($"The field 'functions[0].settings.image.{field}' {rule}");
    }

    [Fact]
    public void An_unknown_base_image_is_named()
    {
        WireValidator.Check(new ImageSpec("ubuntu", [])).Should().Be("The field 'base' must be 'debian-bookworm-minbase', not 'ubuntu'.");
    }

    [Theory]
    [InlineData("""{"timeoutSeconds":1e400}""", "The field 'timeoutSeconds' must be a finite number, not Infinity.")]
    [InlineData("""{"timeoutSeconds":-1e400}""", "The field 'timeoutSeconds' must be a finite number, not -Infinity.")]
    [InlineData("""{"timeoutSeconds":1e300}""", "The field 'timeoutSeconds' must be between 1 and 86400 seconds, not 1E+300.")]
    [InlineData("""{"timeoutSeconds":0.5}""", "The field 'timeoutSeconds' must be between 1 and 86400 seconds, not 0.5.")]
    [InlineData("""{"scaledownWindowSeconds":1e400}""", "The field 'scaledownWindowSeconds' must be a finite number, not Infinity.")]
    [InlineData("""{"scaledownWindowSeconds":0}""", "The field 'scaledownWindowSeconds' must be more than 0 and at most 86400 seconds, not 0.")]
    [InlineData("""{"scaledownWindowSeconds":86401}""", "The field 'scaledownWindowSeconds' must be more than 0 and at most 86400 seconds, not 86401.")]
    [InlineData("""{"cpu":0.1}""", "The field 'cpu' must be between 0.125 and 64 cores, not 0.1.")]
    [InlineData("""{"cpu":1e400}""", "The field 'cpu' must be a finite number, not Infinity.")]
    [InlineData("""{"memoryMiB":16}""", "The field 'memoryMiB' must be between 32 and 1048576 MiB, not 16.")]
    [InlineData("""{"maxInputs":0}""", "The field 'maxInputs' must be between 1 and 1000, not 0.")]
    [InlineData("""{"maxInputs":1001}""", "The field 'maxInputs' must be between 1 and 1000, not 1001.")]
    [InlineData("""{"maxInputs":4,"targetInputs":5}""", "The field 'targetInputs' must be between 1 and maxInputs (4), not 5.")]
    [InlineData("""{"batchMaxSize":0}""", "The field 'batchMaxSize' must be between 1 and 1000, not 0.")]
    [InlineData("""{"batchWaitMs":600001}""", "The field 'batchWaitMs' must be between 0 and 600000 milliseconds, not 600001.")]
    [InlineData("""{"batchWaitMs":-1}""", "The field 'batchWaitMs' must be between 0 and 600000 milliseconds, not -1.")]
    [InlineData("""{"minContainers":-1}""", "The field 'minContainers' must not be negative, not -1.")]
    [InlineData("""{"maxContainers":0}""", "The field 'maxContainers' must be at least 1, not 0.")]
    [InlineData("""{"minContainers":3,"maxContainers":2}""", "The field 'minContainers' (3) must not exceed maxContainers (2).")]
    [InlineData("""{"bufferContainers":-2}""", "The field 'bufferContainers' must not be negative, not -2.")]
    [InlineData("""{"retries":{"maxRetries":11}}""", "The field 'retries.maxRetries' must be between 0 and 10, not 11.")]
    [InlineData("""{"retries":{"maxRetries":1,"backoffCoefficient":0.5}}""", "The field 'retries.backoffCoefficient' must be between 1 and 10, not 0.5.")]
    [InlineData("""{"retries":{"maxRetries":1,"initialDelaySeconds":61}}""", "The field 'retries.initialDelaySeconds' must be between 0 and 60 seconds, not 61.")]
    [InlineData("""{"retries":{"maxRetries":1,"maxDelaySeconds":1e400}}""", "The field 'retries.maxDelaySeconds' must be a finite number, not Infinity.")]
    [InlineData("""{"retries":{"maxRetries":1,"maxDelaySeconds":0.5}}""", "The field 'retries.maxDelaySeconds' must be between 1 and 60 seconds, not 0.5.")]
    [InlineData("""{"gpu":["H100","H1000"]}""", "The field 'gpu[1]' is not a GPU request ('H1000'); write TYPE or TYPE:COUNT (1 to 8), where TYPE is one of B200, H200, H100, A100, A100-40GB, A100-80GB, L40S, L4, A10G, A10, T4, ANY.")]
    [InlineData("""{"gpu":["A100:9"]}""", "The field 'gpu[0]' is not a GPU request ('A100:9'); write TYPE or TYPE:COUNT (1 to 8), where TYPE is one of B200, H200, H100, A100, A100-40GB, A100-80GB, L40S, L4, A10G, A10, T4, ANY.")]
    public void Every_setting_must_be_finite_and_in_its_documented_range(string json, string problem)
    {
        CheckSettings(json).Should().Be(problem);
    }

    [Fact]
    public void The_limits_themselves_are_accepted()
    {
        CheckSettings("""
            {"timeoutSeconds":86400,"scaledownWindowSeconds":86400,"cpu":64,"memoryMiB":1048576,"maxInputs":1000,"targetInputs":1,
             "batchMaxSize":1000,"batchWaitMs":600000,"minContainers":0,"maxContainers":1,"bufferContainers":0,
             "retries":{"maxRetries":10,"backoffCoefficient":1,"initialDelaySeconds":0,"maxDelaySeconds":1},"gpu":["any:8","t4"]}
            """).Should().BeNull();
        CheckSettings("""{"timeoutSeconds":1,"cpu":0.125,"memoryMiB":32}""").Should().BeNull();
    }

    [Fact]
    public void The_sdk_enforces_the_same_limits_as_the_server()
    {
        static string? Refusal(FunctionOptions options)
        {
            try
            {
                options.Validate("f");
                return null;
            }
            catch (InvalidRequestException e)
            {
                return e.Message;
            }
        }

        var overTheTop = new FunctionOptions[]
        {
            new() { Timeout = TimeSpan.FromHours(24) + TimeSpan.FromMilliseconds(1) },
            new() { ScaledownWindow = TimeSpan.FromHours(24) + TimeSpan.FromMilliseconds(1) },
            new() { Cpu = 64.001 },
            new() { Memory = 1024 * 1024 + 1 },
            new() { MaxInputs = 1001 },
            new() { BatchMaxSize = 1001 },
            new() { BatchWait = TimeSpan.FromMinutes(10) + TimeSpan.FromMilliseconds(1) },
            new() { Retries = new Retries(11) },
            new() { Retries = new Retries(1) { MaxDelay = TimeSpan.FromSeconds(61) } },
        };
        var atTheLimit = new FunctionOptions[]
        {
            new() { Timeout = TimeSpan.FromHours(24), ScaledownWindow = TimeSpan.FromHours(24), Cpu = 64, Memory = 1024 * 1024, MaxInputs = 1000, BatchMaxSize = 1000 },
            new() { Timeout = TimeSpan.FromSeconds(1), Cpu = 0.125, Memory = 32, BatchWait = TimeSpan.FromMinutes(10), Retries = new Retries(10) { BackoffCoefficient = 10, MaxDelay = TimeSpan.FromSeconds(1) } },
        };

        foreach (var options in overTheTop)
        {
            Refusal(options).Should().StartWith("f: ", "the SDK refuses {0} with its own message", options);
            WireValidator.Check(options.ToSettings(null)).Should().NotBeNull("the server refuses {0} too", options);
        }
        foreach (var options in atTheLimit)
        {
            Refusal(options).Should().BeNull();
            WireValidator.Check(options.ToSettings(null)).Should().BeNull();
        }
    }

    [Fact]
    public void The_sdk_refuses_container_paths_the_server_would_refuse_and_forgives_a_trailing_slash()
    {
        foreach (var path in new[] { "/a//b", "/a/./b", "/a/../b", "a/b", "//" })
        {
            var act = () => Image.DebianSlim().Workdir(path);
            act.Should().Throw<ArgumentException>().WithMessage($"'{path}' is not an absolute path in the container*");
        }
        Image.DebianSlim().Workdir("/srv/").ToSpec().Steps.Single().Args.Should().Equal("/srv");
        Image.DebianSlim().Workdir("/").ToSpec().Steps.Single().Args.Should().Equal("/");
    }

    [Fact]
    public void A_null_in_a_list_is_named_instead_of_failing_later()
    {
        CheckDefinition("""{"name":"app","functions":[null],"entrypoints":[]}""").Should().Be("The field 'functions[0]' must not be null.");
        CheckDefinition(WithSteps("""{"kind":"run_commands","args":["ls",null]}""")).Should().Be("The field 'functions[0].settings.image.steps[0].args[1]' must not be null.");
        CheckSettings("""{"gpu":[null]}""").Should().Be("The field 'gpu[0]' must not be null.");
        WireValidator.Check(JsonSerializer.Deserialize("""{"entryAssembly":"a.dll","files":[null]}""", Json.CreateBuildRequest)!).Should().Be("The field 'files[0]' must not be null.");
        WireValidator.Check(JsonSerializer.Deserialize("""{"hashes":[null]}""", Json.MissingBlobsRequest)!).Should().Be("The field 'hashes[0]' must not be null.");
        WireValidator.Check(new AppDefinition("app", [new FunctionDefinition("f", [], "Int32", null!)], [])).Should().Be("The field 'functions[0].settings' must not be null.");
    }

    [Fact]
    public void A_lone_surrogate_anywhere_is_named()
    {
        WireValidator.Check(JsonSerializer.Deserialize("""{"parameters":{"label":"a\ud800"}}""", Json.PoolSpec)!)
            .Should().Be("The field 'parameters.label' is not valid UTF-16: it has a lone surrogate.");
        WireValidator.Check(JsonSerializer.Deserialize("""{"parameters":{"\udc00":1}}""", Json.PoolSpec)!)
            .Should().Be("The field 'parameters' has a property name that is not valid UTF-16: it has a lone surrogate.");
        WireValidator.Check(new AppDefinition("app\ud800", [], []))
            .Should().Be("The field 'name' is not valid UTF-16: it has a lone surrogate.");
        WireValidator.Check(JsonSerializer.Deserialize("""{"parameters":{"label":"\ud83d\ude00 ok"}}""", Json.PoolSpec)!).Should().BeNull("a surrogate pair is valid");
    }

    [Fact]
    public void Only_a_unicode_escape_can_write_a_lone_surrogate()
    {
        static JsonElement Parse(string json) => JsonDocument.Parse(json).RootElement;

        WireRules.MayHoldLoneSurrogate(Parse("""[1,"plain",{"k":"ünïcode"}]""")).Should().BeFalse();
        WireRules.StringProblem(Parse("""[1,"plain",{"k":"ünïcode"}]"""), "args").Should().BeNull();
        // An escaped backslash before a 'u' looks like an escape to the quick check; the walk finds nothing wrong.
        WireRules.MayHoldLoneSurrogate(Parse("""["C:\\users"]""")).Should().BeTrue();
        WireRules.StringProblem(Parse("""["C:\\users", "\u00e9"]"""), "args").Should().BeNull();
        WireRules.StringProblem(Parse("""["\\ud800 is text", "\u00e9"]"""), "args").Should().BeNull();
        WireRules.StringProblem(Parse("""["\\\ud800"]"""), "args").Should().Be("The field 'args[0]' is not valid UTF-16: it has a lone surrogate.");
        WireRules.StringProblem(Parse("""{"a":{"b\udfff":1}}"""), "args").Should().Be("The field 'args.a' has a property name that is not valid UTF-16: it has a lone surrogate.");
    }

    [Fact]
    public void Names_must_be_present_and_functions_unique()
    {
        CheckDefinition("""{"name":" ","functions":[],"entrypoints":[]}""").Should().Be("The field 'name' must not be empty.");
        CheckDefinition("""{"name":"a","functions":[{"name":"f","parameters":[],"returnType":"Int32","settings":SETTINGS},{"name":"f","parameters":[],"returnType":"Int32","settings":SETTINGS}],"entrypoints":[]}""".Replace("SETTINGS", Settings("{}"), StringComparison.Ordinal))
            .Should().Be("The field 'functions[1].name' repeats the function name 'f'.");
        CheckDefinition("""{"name":"a","functions":[{"name":"f","parameters":[{"name":"","type":"Int32","required":true}],"returnType":"Int32","settings":SETTINGS}],"entrypoints":[]}""".Replace("SETTINGS", Settings("{}"), StringComparison.Ordinal))
            .Should().Be("The field 'functions[0].parameters[0].name' must not be empty.");
        WireValidator.Check(new CreateAppRequest("app", Definition: new AppDefinition("", [], []))).Should().Be("The field 'definition.name' must not be empty.");
    }

    [Theory]
    [InlineData("""{"entryAssembly":"a.dll","files":[{"path":"../x","hash":"HASH","size":1}]}""", "The field 'files[0].path' must be a relative path with '/' separators and without empty, '.' or '..' segments, not '../x'.")]
    [InlineData("""{"entryAssembly":"a.dll","files":[{"path":"/etc/passwd","hash":"HASH","size":1}]}""", "The field 'files[0].path' must be a relative path with '/' separators and without empty, '.' or '..' segments, not '/etc/passwd'.")]
    [InlineData("""{"entryAssembly":"../a.dll","files":[]}""", "The field 'entryAssembly' must be a relative path without empty, '.' or '..' segments, not '../a.dll'.")]
    [InlineData("""{"entryAssembly":"a.dll","files":[{"path":"a.dll","hash":"HASH","size":1},{"path":"a.dll","hash":"HASH","size":1}]}""", "The field 'files[1].path' repeats the path 'a.dll'.")]
    [InlineData("""{"entryAssembly":"a.dll","files":[{"path":"a.dll","hash":"nothex","size":1}]}""", "The field 'files[0].hash' must be a lower-case SHA-256 hash, not 'nothex'.")]
    public void A_build_names_its_bad_file(string json, string problem)
    {
        WireValidator.Check(JsonSerializer.Deserialize(json.Replace("HASH", Hash, StringComparison.Ordinal), Json.CreateBuildRequest)!).Should().Be(problem);
    }

    [Theory]
    [InlineData("""{"scaledownWindowSeconds":1e400}""", "The field 'scaledownWindowSeconds' must be a finite number, not Infinity.")]
    [InlineData("""{"scaledownWindowSeconds":1e300}""", "The field 'scaledownWindowSeconds' must be more than 0 and at most 86400 seconds, not 1E+300.")]
    [InlineData("""{"minContainers":-1}""", "The field 'minContainers' must not be negative, not -1.")]
    [InlineData("""{"maxContainers":0}""", "The field 'maxContainers' must be at least 1, not 0.")]
    [InlineData("""{"minContainers":2,"maxContainers":1}""", "The field 'minContainers' (2) must not exceed maxContainers (1).")]
    [InlineData("""{"maxContainers":3,"pool":{"overrides":{"timeoutSeconds":1e400}}}""", "The field 'pool.overrides.timeoutSeconds' must be a finite number, not Infinity.")]
    public void An_autoscaler_update_is_checked_like_the_settings_it_changes(string json, string problem)
    {
        WireValidator.Check(JsonSerializer.Deserialize(json, Json.AutoscalerUpdate)!).Should().Be(problem);
    }

    [Fact]
    public void An_autoscaler_update_names_a_bad_override_of_its_pool()
    {
        var overrides = JsonSerializer.Deserialize(Settings("""{"cpu":1000}"""), Json.FunctionSettings)!;

        WireValidator.Check(new AutoscalerUpdate(MaxContainers: 3, Pool: new PoolSpec(Overrides: overrides)))
            .Should().Be("The field 'pool.overrides.cpu' must be between 0.125 and 64 cores, not 1000.");
    }

    [Fact]
    public void An_autoscaler_update_that_sets_nothing_or_stays_in_range_passes()
    {
        WireValidator.Check(new AutoscalerUpdate()).Should().BeNull();
        WireValidator.Check(new AutoscalerUpdate(0, 1, 0, 0.5)).Should().BeNull();
    }

    [Fact]
    public void A_missing_blobs_question_names_a_bad_hash()
    {
        WireValidator.Check(new MissingBlobsRequest([Hash, Hash.ToUpperInvariant()])).Should().StartWith("The field 'hashes[1]' must be a lower-case SHA-256 hash");
        WireValidator.Check(new MissingBlobsRequest([Hash + "\n"])).Should().StartWith("The field 'hashes[0]' must be a lower-case SHA-256 hash");
    }

    private static void BuildStep() => File.WriteAllText("/tmp/validated", "x");

    [Fact]
    public void Class_parameters_given_as_a_dictionary_bind_like_an_anonymous_object()
    {
        var greeter = new App("dictionary-parameters").Cls<Greeter>();

        var fromDictionary = greeter.With(new Dictionary<string, string> { ["Name"] = "Ada" });
        var fromObject = greeter.With(new { Name = "Ada" });

        fromDictionary.BoundParameters.GetRawText().Should().Be(fromObject.BoundParameters.GetRawText()).And.Be("""{"Name":"Ada"}""");
        var unknown = () => greeter.With(new Dictionary<string, int> { ["Size"] = 3 });
        unknown.Should().Throw<InvalidRequestException>().WithMessage("*no parameter 'Size'*");
    }

    public sealed class Greeter
    {
        [Parameter]
        public string Name { get; set; } = "world";

        [Method]
        public string Hello() => $"Hello, {Name}";
    }
}
