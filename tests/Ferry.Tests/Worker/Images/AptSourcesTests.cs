using FluentAssertions;
using Ferry.Worker.Images;

namespace Ferry.Tests.Images;

public sealed class AptSourcesTests
{
    [Fact]
    public void FromDeb822_StanzaWithTheSuite_ReturnsItsFirstUri()
    {
        const string text = """
            Types: deb
            URIs: http://security.example/debian-security
            Suites: bookworm-security

            Types: deb deb-src
            # URIs: http://commented.example/debian
            URIs: http://mirror.example/debian http://other.example/debian
            Suites: bookworm bookworm-updates
            """;

        AptSources.FromDeb822(text.ReplaceLineEndings("\n"), "bookworm").Should().Be("http://mirror.example/debian");
        AptSources.FromDeb822(text.ReplaceLineEndings("\n"), "trixie").Should().BeNull();
    }

    [Fact]
    public void FromOneLine_DebLineWithOptions_ReturnsItsUri()
    {
        const string text = "deb-src http://src.example/debian bookworm main\ndeb [arch=amd64] http://mirror.example/debian bookworm main\n";

        AptSources.FromOneLine(text, "bookworm").Should().Be("http://mirror.example/debian");
        AptSources.FromOneLine(text, "trixie").Should().BeNull();
    }
}
