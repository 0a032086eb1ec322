using FluentAssertions;
using Ferry.Protocol;
using Ferry.Protocol.Validation;
using Ferry.Web;

namespace Ferry.Tests.Sdk;

public sealed class WebEndpointOptionsTests
{
    [Theory]
    [InlineData("my-app", "Api", "my-app-api")]
    [InlineData("My_App", "get__items", "my-app-get-items")]
    [InlineData("1app", "f", "w-1app-f")]
    public void DefaultLabel_SlugOfAppAndFunction(string app, string function, string label)
    {
        WebEndpointOptions.DefaultLabel(app, function).Should().Be(label);
        WireRules.IsWebLabel(label).Should().BeTrue();
    }

    [Theory]
    [InlineData("api", true)]
    [InlineData("a-1", true)]
    [InlineData("-api", false)]
    [InlineData("api-", false)]
    [InlineData("Api", false)]
    [InlineData("1api", false)]
    [InlineData("a.b", false)]
    [InlineData("", false)]
    public void IsWebLabel_OneLowercaseDnsLabel(string label, bool valid) => WireRules.IsWebLabel(label).Should().Be(valid);

    [Fact]
    public void WebServer_BadLabel_IsRefusedNamingIt()
    {
        var app = new App("web-tests");

        var act = () => app.WebServer((_, _) => Task.CompletedTask, 8000, new WebEndpointOptions { Label = "Bad Label" }, name: "srv");

        act.Should().Throw<InvalidRequestException>().WithMessage("srv: the web label 'Bad Label' is not valid*");
    }

    [Fact]
    public void WebServer_SameLabelTwice_IsRefusedNamingTheOther()
    {
        var app = new App("web-tests");
        app.WebServer((_, _) => Task.CompletedTask, 8000, new WebEndpointOptions { Label = "files" }, name: "one");

        var act = () => app.WebServer((_, _) => Task.CompletedTask, 8001, new WebEndpointOptions { Label = "files" }, name: "two");

        act.Should().Throw<InvalidRequestException>().WithMessage("The web label 'files' is already taken by 'one'.*");
    }

    [Fact]
    public void WebServer_Definition_CarriesTheSpecInItsSettings()
    {
        var app = new App("web-tests");
        app.WebServer((_, _) => Task.CompletedTask, 8080, new WebEndpointOptions { RequiresAuth = true }, startupTimeout: TimeSpan.FromSeconds(20), name: "srv");

        var settings = app.ToDefinition().Functions.Single().Settings;

        settings.Web.Should().Be(new WebEndpointSpec(WebEndpointKinds.Server, "web-tests-srv", null, true, 8080, 20, 150));
        WireValidator.Check(settings).Should().BeNull();
    }

    [Theory]
    [InlineData("http://api.localhost:7326/", "http://localhost:7326/api/")]
    [InlineData("https://api.web.example.com:443/", "https://web.example.com:443/api/")]
    public void PathForm_MovesTheLabelIntoThePath(string url, string path) => WebUrls.PathForm(url).Should().Be(path);

    [Theory]
    [InlineData("using Ferry;\nusing Ferry.Web;\n", true)]
    [InlineData("global using Ferry.Web;", true)]
    [InlineData("// using Ferry.Web;\nusing Ferry;", false)]
    [InlineData("using Ferry.WebThings;", false)]
    public void UsesWeb_OnlyAFileThatImportsFerryWeb(string source, bool web) => Ferry.Cli.ProjectBuilder.UsesWeb(source).Should().Be(web);
}
