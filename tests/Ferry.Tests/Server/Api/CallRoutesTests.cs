using System.Text.Json;
using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Api;

namespace Ferry.Tests;

/// <summary>The call intake's one check of a new call and of added inputs, before anything is written.</summary>
public sealed class CallRoutesTests
{
    private static readonly ProtocolJsonContext Json = ProtocolJsonContext.Default;

    private static CreateCallRequest Call(string json) => JsonSerializer.Deserialize(json, Json.CreateCallRequest)!;

    private static string ProblemOf(CreateCallRequest request) =>
        FluentActions.Invoking(() => CallRoutes.Check(request)).Should().Throw<Exception>().Which.Message;

    [Fact]
    public void Check_ValidCall_ReturnsItsWaitWithinBounds()
    {
        CallRoutes.Check(Call("""{"callId":"c","function":"f","kind":"sync","inputs":[{"index":0,"args":[1,"\ud83d\ude00"]}],"final":true,"waitSeconds":90}"""))
            .Should().Be(TimeSpan.FromSeconds(60));
        CallRoutes.Check(Call("""{"callId":"c","function":"f","kind":"map","inputs":[{"index":3,"argsBlob":"abc"}],"final":false}"""))
            .Should().Be(TimeSpan.Zero);
    }

    [Fact]
    public void Check_NullInput_IsNamed()
    {
        ProblemOf(Call("""{"callId":"c","function":"f","kind":"sync","inputs":[{"index":0,"args":[1]},null],"final":true}"""))
            .Should().Be("The field 'inputs[1]' must not be null.");
    }

    [Fact]
    public void Check_LoneSurrogate_IsNamedWhereverItIs()
    {
        ProblemOf(Call("""{"callId":"c","function":"f","kind":"sync","inputs":[{"index":0,"args":[1,["\udfff"]]}],"final":true}"""))
            .Should().Be("The field 'inputs[0].args[1][0]' is not valid UTF-16: it has a lone surrogate.");
        ProblemOf(Call("""{"callId":"c","function":"f","kind":"sync","inputs":[{"index":0,"args":[{"\udc00":1}]}],"final":true}"""))
            .Should().Be("The field 'inputs[0].args[0]' has a property name that is not valid UTF-16: it has a lone surrogate.");
        // The deserializer refuses a lone surrogate in a string field itself; one made in code is still caught.
        ProblemOf(new CreateCallRequest("c\ud800", "f", CallKinds.Sync, [], Final: true))
            .Should().Be("The field 'callId' is not valid UTF-16: it has a lone surrogate.");
        ProblemOf(new CreateCallRequest("c", "f", CallKinds.Sync, [new InputItem(0, ArgsBlob: "\ud800")], Final: true))
            .Should().Be("The field 'inputs[0].argsBlob' is not valid UTF-16: it has a lone surrogate.");
    }

    [Fact]
    public void Check_BadPoolOverride_IsNamedUnderPool()
    {
        ProblemOf(Call("""{"callId":"c","function":"f","kind":"sync","inputs":[],"final":true,"pool":{"overrides":{"timeoutSeconds":1e300}}}"""))
            .Should().Be("The field 'pool.overrides.timeoutSeconds' must be between 1 and 86400 seconds, not 1E+300.");
        ProblemOf(Call("""{"callId":"c","function":"f","kind":"sync","inputs":[],"final":true,"pool":{"parameters":{"label":"a\ud800"}}}"""))
            .Should().Be("The field 'pool.parameters.label' is not valid UTF-16: it has a lone surrogate.");
    }

    [Theory]
    [InlineData("""{"callId":"","function":"f","kind":"sync","inputs":[],"final":true}""", "The field 'callId' must be 1 to 128 characters.")]
    [InlineData("""{"callId":"c","function":" ","kind":"sync","inputs":[],"final":true}""", "The field 'function' must not be empty.")]
    [InlineData("""{"callId":"c","function":"f","kind":"later","inputs":[],"final":true}""", "The field 'kind' must be one of: sync, spawn, map, stream.")]
    [InlineData("""{"callId":"c","function":"f","kind":"sync","inputs":[{"index":-1,"args":[]}],"final":true}""", "The field 'inputs[0].index' must not be negative.")]
    [InlineData("""{"callId":"c","function":"f","kind":"sync","inputs":[{"index":0}],"final":true}""", "Input 0 must have exactly one of 'inputs[0].args' and 'inputs[0].argsBlob'.")]
    [InlineData("""{"callId":"c","function":"f","kind":"sync","inputs":[{"index":0,"args":{"x":1}}],"final":true}""", "The field 'inputs[0].args' must be a JSON array of arguments.")]
    public void Check_MalformedCall_IsRefusedNamingTheField(string json, string problem)
    {
        FluentActions.Invoking(() => CallRoutes.Check(Call(json))).Should().Throw<BadRequestException>().WithMessage(problem);
    }

    [Fact]
    public void Check_TooManyInputs_IsTooLarge()
    {
        var inputs = Enumerable.Range(0, ProtocolInfo.MaxInputsPerRequest + 1).Select(i => new InputItem(i, JsonSerializer.SerializeToElement(new[] { i }))).ToList();

        FluentActions.Invoking(() => CallRoutes.Check(inputs)).Should().Throw<PayloadTooLargeException>()
            .WithMessage($"A request may carry at most {ProtocolInfo.MaxInputsPerRequest} inputs; it had {ProtocolInfo.MaxInputsPerRequest + 1}.");
    }
}
