using System.Text.Json;
using FluentAssertions;
using Ferry.Client;
using Ferry.Protocol;

namespace Ferry.Tests;

public sealed class FerryClientPrepareTests
{
    // Nothing listens here: an argument that went to the blob store would fail the test with a connection error.
    private static FerryClient Unreachable() => new(new Uri("http://127.0.0.1:9/"), "token");

    [Fact]
    public async Task PrepareAsync_text_at_the_inline_limit_whose_UTF8_is_over_it_is_sent_inline()
    {
        // Each 'é' is one character of text and two bytes of UTF-8: the text is exactly at the limit, its UTF-8 twice that.
        using var document = JsonDocument.Parse("\"" + new string('é', ProtocolInfo.InlinePayloadLimit - 2) + "\"");
        using var client = Unreachable();

        var prepared = client.PrepareAsync(7, document.RootElement, CancellationToken.None);

        // Inline arguments need no request: they are ready at once.
        prepared.IsCompletedSuccessfully.Should().BeTrue();
        var item = await prepared;

        item.Index.Should().Be(7);
        item.ArgsBlob.Should().BeNull();
        item.Args!.Value.GetString().Should().HaveLength(ProtocolInfo.InlinePayloadLimit - 2);
    }

    [Fact]
    public async Task PrepareAsync_small_arguments_are_sent_inline_as_they_are()
    {
        using var document = JsonDocument.Parse("""{"x":[1,2,3],"name":"ünïcode"}""");
        using var client = Unreachable();

        var prepared = client.PrepareAsync(0, document.RootElement, CancellationToken.None);

        prepared.IsCompletedSuccessfully.Should().BeTrue();
        var item = await prepared;

        item.ArgsBlob.Should().BeNull();
        item.Args!.Value.GetRawText().Should().Be("""{"x":[1,2,3],"name":"ünïcode"}""");
    }
}
