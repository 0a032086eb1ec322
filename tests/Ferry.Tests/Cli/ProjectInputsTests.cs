using FluentAssertions;
using Ferry.Cli;

namespace Ferry.Tests;

public sealed class ProjectInputsTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "ferry-inputs-" + Guid.NewGuid().ToString("N")[..8]);

    public ProjectInputsTests()
    {
        Directory.CreateDirectory(Path.Combine(_root, "app"));
        Directory.CreateDirectory(Path.Combine(_root, "shared"));
        File.WriteAllText(Path.Combine(_root, "app", "app.csproj"), """<Project><ItemGroup><ProjectReference Include="..\shared\shared.csproj" /></ItemGroup></Project>""");
        File.WriteAllText(Path.Combine(_root, "app", "Program.cs"), "return 0;");
        File.WriteAllText(Path.Combine(_root, "shared", "shared.csproj"), "<Project />");
        File.WriteAllText(Path.Combine(_root, "shared", "Lib.cs"), "class Lib {}");
    }

    private string Project => Path.Combine(_root, "app", "app.csproj");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void ProjectInputs_NothingChanged_IsTheSame() =>
        ProjectBuilder.ProjectInputs(Project).Should().Be(ProjectBuilder.ProjectInputs(Project));

    [Fact]
    public void ProjectInputs_BuildOutputChanges_IsTheSame()
    {
        var before = ProjectBuilder.ProjectInputs(Project);
        Directory.CreateDirectory(Path.Combine(_root, "app", "obj", "Release"));
        File.WriteAllText(Path.Combine(_root, "app", "obj", "Release", "app.dll"), "x");
        Directory.CreateDirectory(Path.Combine(_root, "shared", "bin"));
        File.WriteAllText(Path.Combine(_root, "shared", "bin", "shared.dll"), "x");

        ProjectBuilder.ProjectInputs(Project).Should().Be(before);
    }

    [Theory]
    [InlineData("app/Program.cs")]
    [InlineData("shared/Lib.cs")]
    [InlineData("app/New.cs")]
    public void ProjectInputs_SourceEdited_Changes(string file)
    {
        var before = ProjectBuilder.ProjectInputs(Project);
        File.AppendAllText(Path.Combine(_root, file), "\n// edited and longer");

        ProjectBuilder.ProjectInputs(Project).Should().NotBe(before);
    }
}
