using System.Runtime.CompilerServices;
using System.Text.Json;
using FluentAssertions;
using Ferry.Hosting;
using Ferry.Protocol;

namespace Ferry.Tests;

public sealed class ItemWindowTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task WaitForRoomAsync_waits_once_the_window_of_items_is_in_flight_and_resumes_on_acknowledgement()
    {
        var window = new ItemWindow();
        for (var i = 0; i < ProtocolInfo.StreamWindowItems - 1; i++)
        {
            await window.WaitForRoomAsync(CancellationToken.None).WaitAsync(Limit);
            window.Sent(1);
        }
        window.HasRoom.Should().BeTrue();
        window.Sent(1);

        var waiting = window.WaitForRoomAsync(CancellationToken.None);

        waiting.IsCompleted.Should().BeFalse("the window is full");
        window.Acknowledge(0);
        waiting.IsCompleted.Should().BeFalse("nothing was acknowledged");
        window.Acknowledge(1);
        await waiting.WaitAsync(Limit);
        window.HasRoom.Should().BeTrue();
    }

    [Fact]
    public async Task WaitForRoomAsync_waits_once_the_window_of_bytes_is_in_flight()
    {
        var window = new ItemWindow();
        window.Sent(ProtocolInfo.StreamWindowBytes - 1);
        await window.WaitForRoomAsync(CancellationToken.None).WaitAsync(Limit);
        window.Sent(10);

        var waiting = window.WaitForRoomAsync(CancellationToken.None);

        waiting.IsCompleted.Should().BeFalse();
        window.Acknowledge(1);
        await waiting.WaitAsync(Limit);
    }

    [Fact]
    public async Task WaitForRoomAsync_ends_when_its_token_is_cancelled()
    {
        var window = new ItemWindow();
        for (var i = 0; i < ProtocolInfo.StreamWindowItems; i++)
        {
            window.Sent(1);
        }
        using var cancel = new CancellationTokenSource();

        var waiting = window.WaitForRoomAsync(cancel.Token);
        await cancel.CancelAsync();

        await FluentActions.Awaiting(() => waiting.WaitAsync(Limit)).Should().ThrowAsync<OperationCanceledException>();
    }
}

public sealed class GeneratorDefinitionTests
{
    [Fact]
    public void A_generator_is_marked_in_its_definition_and_its_item_type_is_checked()
    {
        var app = new App("generators");
        app.Function<int, IAsyncEnumerable<string>>(Words);
        app.Function<int, int>(Square);

        var definitions = app.ToDefinition().Functions.ToDictionary(f => f.Name);

        definitions["Words"].Generator.Should().BeTrue();
        definitions["Words"].ReturnType.Should().Be("IAsyncEnumerable<String>");
        definitions["Square"].Generator.Should().BeFalse();
#pragma warning disable FERRY002 // The point of the test: the SDK refuses it at run time too.
        var badItem = () => app.Function<int, IAsyncEnumerable<Stream>>(Streams);
#pragma warning restore FERRY002
        badItem.Should().Throw<InvalidRequestException>().WithMessage("*result of function 'Streams'*Stream*");
    }

    [Fact]
    public async Task Items_are_serialized_by_their_declared_type_and_enumerated_with_the_token()
    {
        using var cancel = new CancellationTokenSource();
        var elements = ItemSequences.AsElementsAsync(Words(3), typeof(IAsyncEnumerable<string>), "Words");
        var seen = new List<string>();

        await foreach (var element in elements.WithCancellation(cancel.Token))
        {
            seen.Add(element.GetRawText());
        }

        seen.Should().Equal("\"w0\"", "\"w1\"", "\"w2\"");
        var returnedNull = () => ItemSequences.AsElementsAsync(null, typeof(IAsyncEnumerable<string>), "Words");
        returnedNull.Should().Throw<InvalidOperationException>().WithMessage("*'Words' returned null*");
    }

    [Fact]
    public void RemoteStreamAsync_extends_the_generator_handle_of_every_arity()
    {
        var overloads = typeof(FunctionStreaming).GetMethods()
            .Where(m => m.Name == nameof(FunctionStreaming.RemoteStreamAsync))
            .ToDictionary(m => m.GetParameters().Length - 2);

        overloads.Keys.Order().Should().Equal(Enumerable.Range(0, 17));
        var sixteen = overloads[16].GetParameters()[0].ParameterType;
        sixteen.GetGenericArguments().Should().HaveCount(17);
        sixteen.GetGenericArguments()[^1].GetGenericTypeDefinition().Should().Be(typeof(IAsyncEnumerable<>));
    }

    [Fact]
    public void Streaming_routes_are_spelled_as_the_wire_has_them()
    {
        Routes.StreamItems("fc-1").Should().Be("v1/calls/fc-1/items");
        Routes.StreamItems("fc-1", 42, TimeSpan.FromSeconds(25), 512).Should().Be("v1/calls/fc-1/items?after=42&wait=25&limit=512");
        JsonSerializer.Serialize<ContainerMessage>(new StreamCredit(7, 3), ProtocolJsonContext.Default.ContainerMessage)
            .Should().Be("""{"type":"credit","inputId":7,"acknowledged":3}""");
    }

    private static async IAsyncEnumerable<string> Words(int count, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        for (var i = 0; i < count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return "w" + i;
        }
        await Task.CompletedTask;
    }

    private static async IAsyncEnumerable<Stream> Streams(int count)
    {
        await Task.CompletedTask;
        yield break;
    }

    private static int Square(int x) => x * x;
}
