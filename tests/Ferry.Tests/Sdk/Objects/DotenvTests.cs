using FluentAssertions;

namespace Ferry.Tests.Sdk.Objects;

public sealed class DotenvTests
{
    [Fact]
    public void Parse_CommentsExportQuotesAndEscapes_ReadAsDotenvTools_Do()
    {
        var values = Dotenv.Parse("""
            # a comment

            A=plain value # trailing comment
            export B="two\nlines \"quoted\""
            C='single # not a comment'
            D=
            E = spaced
            """, ".env");

        values.Should().Equal(new Dictionary<string, string>
        {
            ["A"] = "plain value",
            ["B"] = "two\nlines \"quoted\"",
            ["C"] = "single # not a comment",
            ["D"] = "",
            ["E"] = "spaced",
        });
    }

    [Theory]
    [InlineData("A=1\nno equals here\n", "app.env, line 2: expected KEY=VALUE, found no '='.")]
    [InlineData("A=1\n\n1BAD=x\n", "app.env, line 3: '1BAD' is not a variable name (a letter or '_', then letters, digits or '_').")]
    [InlineData("A=\"open\n", "app.env, line 1: the value's opening \" is never closed.")]
    [InlineData("# c\nA='x' y\n", "app.env, line 2: unexpected text after the closing quote.")]
    public void Parse_MalformedLine_NamesTheFileAndLineButNoValue(string text, string message)
    {
        FluentActions.Invoking(() => Dotenv.Parse(text, "app.env")).Should().Throw<InvalidRequestException>().Which.Message.Should().Be(message);
    }

    [Fact]
    public void FromDotenv_ReadsOnlyWhenTheAppStarts_SoContainersNeedNoFile()
    {
        var secret = Secret.FromDotenv(Path.Combine(Path.GetTempPath(), "ferry-no-such-" + Guid.NewGuid().ToString("N"), ".env"));

        secret.Name.Should().StartWith("local-");
        secret.RequiredKeys.Should().BeEmpty();
    }

    [Fact]
    public void FromName_InvalidNameOrKey_IsRefusedAtOnce()
    {
        FluentActions.Invoking(() => Secret.FromName("has space")).Should().Throw<ArgumentException>().WithMessage("'has space' is not a secret name*");
        FluentActions.Invoking(() => Secret.FromName("ok", ["BAD-KEY"])).Should().Throw<ArgumentException>().WithMessage("'BAD-KEY' is not an environment variable name.*");
    }
}
