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
