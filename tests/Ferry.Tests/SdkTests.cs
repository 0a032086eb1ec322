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
