using System.Reflection;
using System.Xml.Linq;
using FluentAssertions;
using Ferry.Cli;
using Ferry.Protocol;

namespace Ferry.Tests;

public sealed class FileDirectivesTests
{
    private const string File = "/apps/demo/app.cs";

    [Fact]
    public void Parse_DirectivesBeforeCode_ReadsEachKind()
    {
        var directives = FileDirectives.Parse(File, """
            #!/usr/bin/env ferry
            // a comment
            #:package Humanizer.Core@3.0.10
            #:property LangVersion=preview
            #:sdk Microsoft.NET.Sdk.Web
            #:package Ferry@0.1.0
            using Ferry;
            #:package NotADirective@1.0.0
            """);

        directives.Packages.Should().Equal(("Humanizer.Core", "3.0.10"));
        directives.Properties.Should().Equal(("LangVersion", "preview"));
        directives.SdkAttribute.Should().Be("Microsoft.NET.Sdk.Web");
        directives.Projects.Should().BeEmpty();
    }

    [Fact]
    public void Parse_NoDirectives_IsThePlainSdk()
    {
        var directives = FileDirectives.Parse(File, "using Ferry;\n");

        directives.SdkAttribute.Should().Be("Microsoft.NET.Sdk");
        directives.ToMsBuild().Should().BeEmpty();
    }

    [Theory]
    [InlineData("#:package Humanizer", "app.cs:2: '#:package Humanizer' names no version; write '#:package Humanizer@VERSION'.")]
    [InlineData("#:property NoValue", "app.cs:2: '#:property NoValue' is not of the form '#:property Name=Value'.")]
    [InlineData("#:include other.cs", "app.cs:2: '#:include' is not a directive; use #:package, #:property, #:project or #:sdk.")]
    [InlineData("#:package", "app.cs:2: '#:package' needs a value, like '#:package Humanizer@3.0.10'.")]
    [InlineData("#:project ../missing", "app.cs:2: the project '../missing' does not exist.")]
    public void Parse_BadDirective_NamesItsLine(string directive, string message)
    {
        var parse = () => FileDirectives.Parse(File, "// first\n" + directive + "\nusing Ferry;\n");

        parse.Should().Throw<CliException>().Which.Message.Should().Be(message);
    }

    [Fact]
    public void ToMsBuild_EscapesValuesIntoItemsAndProperties()
    {
        var directives = FileDirectives.Parse(File, "#:package A.B@[1.0,2.0)\n#:property DefineConstants=X&Y\n");

        var project = XElement.Parse("<Project>" + directives.ToMsBuild() + "</Project>");

        project.Element("ItemGroup")!.Element("PackageReference")!.Attribute("Version")!.Value.Should().Be("[1.0,2.0)");
        project.Element("PropertyGroup")!.Element("DefineConstants")!.Value.Should().Be("X&Y");
    }

    [Fact]
    public void Version_IsTheSameInTheProtocolTheAssembliesAndTheTemplates()
    {
        var informational = typeof(App).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;

        informational.Split('+')[0].Should().Be(ProtocolInfo.Version);
        var root = AppContext.BaseDirectory;
        while (!System.IO.File.Exists(Path.Combine(root, "Ferry.slnx")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("Not in a checkout.");
        }
        var templates = Path.Combine(root, "templates");
        XElement.Load(Path.Combine(templates, "Ferry.Templates.csproj")).Descendants("Version").Single().Value.Should().Be(ProtocolInfo.Version);
        XElement.Load(Path.Combine(templates, "content", "ferry-app", "FerryApp.csproj")).Descendants("PackageReference").Single()
            .Attribute("Version")!.Value.Should().Be(ProtocolInfo.Version);
        System.IO.File.ReadLines(Path.Combine(templates, "content", "ferry-file", "FerryFile.cs")).First().Should().Be($"#:package Ferry@{ProtocolInfo.Version}");
    }
}
