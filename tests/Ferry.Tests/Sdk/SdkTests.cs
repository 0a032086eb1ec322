using FluentAssertions;
using Ferry.Hosting;
using Ferry.Protocol;
using Ferry.Serialization;

namespace Ferry.Tests;

public sealed class RetryPolicyTests
{
    [Theory]
    [InlineData(1, 1.0)]
    [InlineData(2, 2.0)]
    [InlineData(3, 4.0)]
    [InlineData(7, 10.0)]
    public void Delays_grow_by_the_coefficient_and_stop_at_the_maximum(int retry, double seconds)
    {
        var policy = new RetryPolicy(MaxRetries: 8, BackoffCoefficient: 2, InitialDelaySeconds: 1, MaxDelaySeconds: 10);

        policy.DelayFor(retry).Should().Be(TimeSpan.FromSeconds(seconds));
    }

    [Fact]
    public void A_plain_count_retries_one_second_apart()
    {
        Retries retries = 3;

        var policy = retries.ToPolicy();

        policy.MaxRetries.Should().Be(3);
        policy.DelayFor(1).Should().Be(TimeSpan.FromSeconds(1));
        policy.DelayFor(3).Should().Be(TimeSpan.FromSeconds(1));
    }
}

public sealed class FunctionDefinitionTests
{
    [Fact]
    public void Options_are_recorded_in_the_definition()
    {
        var app = new App("defs");
        app.Function<int, int>(x => x, new FunctionOptions
        {
            Timeout = TimeSpan.FromSeconds(30),
            Retries = new Retries(2) { InitialDelay = TimeSpan.FromSeconds(2) },
            MinContainers = 1,
            MaxContainers = 4,
            BufferContainers = 1,
            ScaledownWindow = TimeSpan.FromSeconds(5),
            Cpu = 0.5,
            Memory = 512,
            Gpu = "A100:2, H100",
        }, name: "f");

        var settings = app.ToDefinition().Functions.Single().Settings;

        settings.TimeoutSeconds.Should().Be(30);
        settings.Retries.Should().Be(new RetryPolicy(2, 2, 2, 60));
        (settings.MinContainers, settings.MaxContainers, settings.BufferContainers).Should().Be((1, 4, 1));
        settings.ScaledownWindowSeconds.Should().Be(5);
        settings.Cpu.Should().Be(0.5);
        settings.MemoryMiB.Should().Be(512);
        settings.Gpu.Should().Equal("A100:2", "H100");
    }

    [Theory]
    [InlineData("H1000")]
    [InlineData("A100:0")]
    [InlineData("T4:many")]
    [InlineData("H100:2:3")]
    public void An_invalid_gpu_is_rejected_naming_the_accepted_forms(string gpu)
    {
        var act = () => new App("gpus").Function<int, int>(x => x, new FunctionOptions { Gpu = gpu }, name: "f");

        act.Should().Throw<InvalidRequestException>().WithMessage($"*'{gpu}' is not a GPU request*TYPE:COUNT*H100*");
    }

    [Theory]
    [InlineData("cpu", 0.01)]
    [InlineData("memory", 8.0)]
    public void Out_of_range_resources_are_rejected_before_anything_runs(string resource, double value)
    {
        var options = resource == "cpu" ? new FunctionOptions { Cpu = value } : new FunctionOptions { Memory = (int)value };

        var act = () => new App("limits").Function<int, int>(x => x, options, name: "f");

        act.Should().Throw<InvalidRequestException>().WithMessage("*must be between*");
    }

    [Fact]
    public void A_lambda_without_a_name_is_rejected_with_the_fix()
    {
        var app = new App("defs");

        var act = () => app.Function<int, int>(x => x);

        act.Should().Throw<InvalidRequestException>().WithMessage("*needs a name*name: \"my_function\"*");
    }

    [Fact]
    public void Two_functions_with_one_name_are_rejected()
    {
        var app = new App("defs");
        app.Function<int, int>(x => x, name: "same");

        var act = () => app.Function<int, int>(x => x + 1, name: "same");

        act.Should().Throw<InvalidRequestException>().WithMessage("*already has a function named 'same'*");
    }

    [Theory]
    [InlineData(typeof(Stream), "Stream")]
    [InlineData(typeof(Func<int>), "Func")]
    [InlineData(typeof(IntPtr), "IntPtr")]
    public void Unserializable_types_are_named(Type type, string name)
    {
        var act = () => Payload.EnsureSerializable(type, "Parameter 1 of function 'f'");

        act.Should().Throw<InvalidRequestException>().WithMessage($"*Parameter 1 of function 'f'*{name}*");
    }

    [Fact]
    public void Supported_types_round_trip_through_json()
    {
        var value = new Sample("a", [1, 2], new Dictionary<string, double> { ["x"] = 1.5 }, [0xCA, 0xFE]);

        var element = Payload.ToElement(value);
        var back = Payload.Read<Sample>(element);

        back.Should().BeEquivalentTo(value);
    }

    [Fact]
    public void Packed_arguments_stay_whole_after_later_packs_a_large_one_and_one_that_fails()
    {
        var first = Payload.Pack(w => Payload.Write(w, 7));
        var large = Payload.Pack(w => Payload.Write(w, new string('x', 100_000)));
        var failing = () => Payload.Pack(w =>
        {
            w.WriteStringValue("half");
            Payload.Write(w, new Func<int>(() => 1));
        });
        failing.Should().Throw<InvalidRequestException>();
        // A serializer that packs again while it writes: the inner pack gets a buffer of its own.
        var nested = Payload.Pack(w => Payload.Write(w, Payload.Pack(inner => Payload.Write(inner, "in")).GetRawText()));
        var last = Payload.Pack(w =>
        {
            Payload.Write(w, 1);
            Payload.Write(w, "two");
        });

        first.GetRawText().Should().Be("[7]");
        large.GetRawText().Should().Be($"[\"{new string('x', 100_000)}\"]");
        nested[0].GetString().Should().Be("[\"in\"]");
        last.GetRawText().Should().Be("[1,\"two\"]");
    }

    public sealed record Sample(string Name, List<int> Numbers, Dictionary<string, double> Weights, byte[] Data);
}

public sealed class CommandLineTests
{
    private static readonly CliParameter[] Parameters =
    [
        new("name", typeof(string), false, null),
        new("count", typeof(int), true, 1),
        new("loud", typeof(bool), true, false),
    ];

    [Fact]
    public void Options_are_kebab_case_and_defaults_fill_in()
    {
        CommandLine.Parse("main", Parameters, ["--name", "Ada"]).Should().Equal("Ada", 1, false);
        CommandLine.Parse("main", Parameters, ["--name", "Ada", "--count", "3", "--loud"]).Should().Equal("Ada", 3, true);
        CommandLine.Parse("main", Parameters, ["--name=Ada", "--no-loud"]).Should().Equal("Ada", 1, false);
    }

    [Fact]
    public void A_missing_required_option_is_a_usage_error_naming_it()
    {
        var act = () => CommandLine.Parse("main", Parameters, ["--count", "2"]);

        act.Should().Throw<UsageException>().WithMessage("*--name*");
    }

    [Fact]
    public void A_value_of_the_wrong_type_is_a_usage_error_naming_the_option()
    {
        var act = () => CommandLine.Parse("main", Parameters, ["--name", "Ada", "--count", "many"]);

        act.Should().Throw<UsageException>().WithMessage("*--count*");
    }

    [Fact]
    public void Dates_and_times_parse_into_the_declared_type()
    {
        CliParameter[] parameters = [new("day", typeof(DateTime), false, null), new("at", typeof(DateTimeOffset), false, null)];

        var values = CommandLine.Parse("main", parameters, ["--day", "2026-11-29", "--at", "2026-11-29T10:00:00+01:00"]);

        values.Should().Equal(new DateTime(2026, 11, 29), new DateTimeOffset(2026, 11, 29, 10, 0, 0, TimeSpan.FromHours(1)));
        values[0].Should().BeOfType<DateTime>();
    }

    [Fact]
    public void An_unknown_option_is_a_usage_error()
    {
        var act = () => CommandLine.Parse("main", Parameters, ["--name", "Ada", "--colour", "red"]);

        act.Should().Throw<UsageException>().WithMessage("*--colour*");
    }
}

public sealed class CommandLineTypeTests
{
    public enum Colour
    {
        Red,
        DarkBlue,
    }

    [Flags]
    public enum Access
    {
        None = 0,
        Read = 1,
        Write = 2,
    }

    private static object? ParseOne(Type type, string text) =>
        CommandLine.Parse("main", [new CliParameter("value", type, false, null)], ["--value", text])[0];

    [Theory]
    [InlineData(typeof(DateOnly), "2026-11-29")]
    [InlineData(typeof(DateOnly?), "2026-11-29")]
    public void A_date_parses_as_a_date_only(Type type, string text) =>
        ParseOne(type, text).Should().Be(new DateOnly(2026, 11, 29));

    [Theory]
    [InlineData(typeof(TimeOnly), "10:30")]
    [InlineData(typeof(TimeOnly?), "10:30:00")]
    public void A_time_of_day_parses_as_a_time_only(Type type, string text) =>
        ParseOne(type, text).Should().Be(new TimeOnly(10, 30));

    [Theory]
    [InlineData("250ms", 0.25)]
    [InlineData("90s", 90)]
    [InlineData("5m", 300)]
    [InlineData("2h", 7200)]
    [InlineData("1d", 86400)]
    [InlineData("1.5s", 1.5)]
    [InlineData("01:30:00", 5400)]
    [InlineData("1.00:00:01", 86401)]
    public void A_duration_parses_with_a_unit_or_as_hours_minutes_seconds(string text, double seconds)
    {
        ParseOne(typeof(TimeSpan), text).Should().Be(TimeSpan.FromSeconds(seconds));
        ParseOne(typeof(TimeSpan?), text).Should().Be(TimeSpan.FromSeconds(seconds));
    }

    [Fact]
    public void A_date_time_parses_as_a_date_time_in_either_form()
    {
        ParseOne(typeof(DateTime), "2026-11-29T10:30:00Z").Should().Be(new DateTime(2026, 11, 29, 10, 30, 0, DateTimeKind.Utc));
        ParseOne(typeof(DateTime?), "2026-11-29").Should().BeOfType<DateTime>().Which.Should().Be(new DateTime(2026, 11, 29));
    }

    [Fact]
    public void A_guid_parses_as_a_guid()
    {
        var id = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");

        ParseOne(typeof(Guid), "0f8fad5b-d9cb-469f-a165-70867728950e").Should().Be(id);
        ParseOne(typeof(Guid?), "0F8FAD5BD9CB469FA16570867728950E").Should().Be(id);
    }

    [Theory]
    [InlineData("red", Colour.Red)]
    [InlineData("RED", Colour.Red)]
    [InlineData("dark-blue", Colour.DarkBlue)]
    [InlineData("DarkBlue", Colour.DarkBlue)]
    [InlineData("dark_blue", Colour.DarkBlue)]
    public void An_enum_parses_by_name_ignoring_case_and_word_separators(string text, Colour expected)
    {
        ParseOne(typeof(Colour), text).Should().Be(expected);
        ParseOne(typeof(Colour?), text).Should().Be(expected);
    }

    [Fact]
    public void A_flags_enum_takes_several_names()
    {
        ParseOne(typeof(Access), "read,write").Should().Be(Access.Read | Access.Write);
    }

    [Theory]
    [InlineData(typeof(Colour), "green", "*--value expects one of Red, DarkBlue, not 'green'*")]
    [InlineData(typeof(Colour?), "1", "*--value expects one of Red, DarkBlue, not '1'*")]
    [InlineData(typeof(DateOnly), "29/11/2026x", "*--value expects a date such as 2026-11-29, not '29/11/2026x'*")]
    [InlineData(typeof(TimeOnly?), "25:00", "*--value expects a time of day*not '25:00'*")]
    [InlineData(typeof(TimeSpan), "soon", "*--value expects a duration such as 90s*not 'soon'*")]
    [InlineData(typeof(Guid?), "not-a-guid", "*--value expects a GUID*not 'not-a-guid'*")]
    [InlineData(typeof(DateTime), "yesterday", "*--value expects a date and time*not 'yesterday'*")]
    public void A_value_that_does_not_parse_names_the_option_and_the_form_it_takes(Type type, string text, string message)
    {
        var act = () => ParseOne(type, text);

        act.Should().Throw<UsageException>().WithMessage(message);
    }

    [Fact]
    public void A_nullable_option_left_out_is_null()
    {
        CommandLine.Parse("main", [new CliParameter("when", typeof(DateOnly?), true, null)], []).Should().Equal([null]);
    }
}

public sealed class ClassParameterTests
{
    private static readonly Cls<Model> Models = new App("class-parameters").Cls<Model>();

    private static string Bound(object values) => Models.With(values).BoundParameters.GetRawText();

    private const string Expected = """{"Data":"AQI=","Enabled":true,"Size":3,"Tag":"large"}""";

    [Fact]
    public void Every_kind_of_string_keyed_dictionary_binds_like_an_anonymous_object()
    {
        var anonymous = Bound(new { Tag = "large", Size = 3, Enabled = true, Data = new byte[] { 1, 2 } });
        var objects = new Dictionary<string, object?> { ["Tag"] = "large", ["Size"] = 3, ["Enabled"] = true, ["Data"] = new byte[] { 1, 2 } };
        var strings = new Dictionary<string, string> { ["Tag"] = "large", ["Size"] = "3", ["Enabled"] = "True", ["Data"] = "AQI=" };

        anonymous.Should().Be(Expected);
        Bound(objects).Should().Be(Expected);
        Bound((IDictionary<string, object?>)objects).Should().Be(Expected);
        Bound((IReadOnlyDictionary<string, object?>)objects).Should().Be(Expected);
        Bound(new System.Collections.ObjectModel.ReadOnlyDictionary<string, object?>(objects)).Should().Be(Expected);
        Bound(strings).Should().Be(Expected);
        Bound((IDictionary<string, string>)strings).Should().Be(Expected);
        Bound((IReadOnlyDictionary<string, string>)strings).Should().Be(Expected);
        Bound(new SortedList<string, string>(strings)).Should().Be(Expected);
        Bound(new System.Collections.Hashtable { ["Tag"] = "large", ["Size"] = 3L, ["Enabled"] = "false", ["Data"] = new List<byte> { 1, 2 } })
            .Should().Be("""{"Data":"AQI=","Enabled":false,"Size":3,"Tag":"large"}""");
    }

    [Fact]
    public void A_number_or_flag_given_for_text_is_written_as_text()
    {
        Bound(new Dictionary<string, object?> { ["Tag"] = 42 }).Should().Contain("\"Tag\":\"42\"");
        Bound(new Dictionary<string, object?> { ["Tag"] = 1.5 }).Should().Contain("\"Tag\":\"1.5\"");
        Bound(new { Tag = false }).Should().Contain("\"Tag\":\"false\"");
    }

    [Theory]
    [InlineData("Size", "three", "*'Model.Size' takes a Int32; the String 'three' does not parse as one*")]
    [InlineData("Size", "99999999999", "*'Model.Size' takes a Int32; the String '99999999999' is out of its range*")]
    [InlineData("Enabled", "yes", "*'Model.Enabled' takes a Boolean; the String 'yes' does not parse as one*")]
    [InlineData("Data", "%%%", "*'Model.Data' takes a Byte[]; the String '%%%' is not base64*")]
    public void Text_that_does_not_convert_is_rejected_naming_the_parameter(string name, string value, string message)
    {
        var act = () => Models.With(new Dictionary<string, string> { [name] = value });

        act.Should().Throw<InvalidRequestException>().WithMessage(message);
    }

    [Fact]
    public void Values_of_other_types_and_null_are_rejected_naming_the_parameter()
    {
        var fraction = () => Models.With(new { Size = 2.5 });
        var missing = () => Models.With(new Dictionary<string, object?> { ["Tag"] = null });
        var tooBig = () => Models.With(new Dictionary<string, long> { ["Size"] = long.MaxValue });
        var keys = () => Models.With(new Dictionary<int, string> { [1] = "x" });

        fraction.Should().Throw<InvalidRequestException>().WithMessage("*'Model.Size' takes a Int32; the Double '2.5' does not convert to one*");
        missing.Should().Throw<InvalidRequestException>().WithMessage("*'Model.Tag' takes a String; null is not one*");
        tooBig.Should().Throw<InvalidRequestException>().WithMessage("*'Model.Size'*is out of its range*");
        keys.Should().Throw<InvalidRequestException>().WithMessage("*keys must be strings, not Int32*");
    }

    public sealed class Model
    {
        [Parameter]
        public string Tag { get; set; } = "small";

        [Parameter]
        public int Size { get; set; } = 1;

        [Parameter]
        public bool Enabled { get; set; }

        [Parameter]
        public byte[] Data { get; set; } = [];

        [Method]
        public string Describe() => $"{Tag}/{Size}/{Enabled}/{Data.Length}";
    }
}

public sealed class AppLookupTests
{
    private static int Square(int x) => x * x;

    [Fact]
    public void A_function_is_found_by_name_as_the_handle_it_was_registered_as()
    {
        var app = new App("lookups");
        var square = app.Function<int, int>(Square);

        app.Lookup<Function<int, int>>("Square").Should().BeSameAs(square);
        app.Lookup<Function>("Square").Should().BeSameAs(square);
    }

    [Fact]
    public void A_wrong_name_or_signature_is_rejected_with_what_the_app_has()
    {
        var app = new App("lookups");
        app.Function<int, int>(Square);
        app.Cls<ClassParameterTests.Model>();

        var unknown = () => app.Lookup<Function<int, int>>("Cube");
        var wrongType = () => app.Lookup<Function<string, int>>("Square");
        var method = () => app.Lookup<Function<string>>("Model.Describe");

        unknown.Should().Throw<NotFoundException>().WithMessage("App 'lookups' has no function named 'Cube'. Its functions: Square, Model.Describe.");
        wrongType.Should().Throw<InvalidRequestException>().WithMessage("Function 'Square' of app 'lookups' is a Function<Int32, Int32>, not a Function<String, Int32>.");
        method.Should().Throw<InvalidRequestException>().WithMessage("*method of class 'Model'*LookupCls<Model>()*");
        app.LookupCls<ClassParameterTests.Model>().Name.Should().Be("Model");
        var unregistered = () => new App("empty").LookupCls<ClassParameterTests.Model>();
        unregistered.Should().Throw<NotFoundException>().WithMessage("*no class Model*");
    }

    [Fact]
    public async Task An_app_given_a_connection_refuses_calls_until_it_runs()
    {
        using var connection = new FerryConnection(new Uri("http://127.0.0.1:1"));
        var app = new App("not-running", connection: connection);
        var square = app.Function<int, int>(Square);

        var call = () => square.RemoteAsync(3);

        await call.Should().ThrowAsync<FerryException>().WithMessage("App 'not-running' is not running: start it with app.RunEphemeralAsync()*");
    }
}

public sealed class ConnectionTests
{
    [Theory]
    [InlineData("ftp://example.com")]
    [InlineData("/relative")]
    public void A_server_url_that_is_not_http_is_rejected(string url)
    {
        var act = () => new FerryConnection(new Uri(url, UriKind.RelativeOrAbsolute));

        act.Should().Throw<ArgumentException>().WithMessage($"*'{url}*' is not a Ferry server URL*");
    }

    [Fact]
    public void Options_out_of_range_are_rejected_naming_the_setting()
    {
        var act = () => new FerryConnection(new Uri("http://127.0.0.1:7325"), options: new ClientOptions { MapBatchSize = 0 });
        var window = () => new ClientOptions { MaxRetryDelay = TimeSpan.FromMilliseconds(10) }.Validate();

        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("MapBatchSize must be 1 to 10,000.*");
        window.Should().Throw<ArgumentOutOfRangeException>().WithMessage("MaxRetryDelay must be at least InitialRetryDelay*");
        ClientOptions.Default.Validate();
    }

    [Fact]
    public void A_connection_keeps_its_url_with_a_trailing_slash_and_its_options()
    {
        var options = new ClientOptions { PollWait = TimeSpan.FromSeconds(5) };
        using var connection = new FerryConnection(new Uri("http://127.0.0.1:7325"), "token", " AB:CD ", options);

        connection.ServerUrl.Should().Be(new Uri("http://127.0.0.1:7325/"));
        connection.ServerFingerprint.Should().Be("AB:CD");
        connection.Client.Options.Should().BeSameAs(options);
        connection.Client.ForApp("ap-1").Should().Match<Ferry.Client.FerryClient>(c => c.AppId == "ap-1" && c.Token == "token" && c.Options == options);
    }
}
