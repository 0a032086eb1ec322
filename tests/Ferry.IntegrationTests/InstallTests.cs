using FluentAssertions;

namespace Ferry.IntegrationTests;

/// <summary>
/// Ferry as a user without a clone gets it: the packages packed into a feed folder by <c>eng/pack</c>, the CLI installed
/// from there as a .NET tool into an empty tool path, and the templates installed into an empty template hive. Each
/// run starts its own local server on a fresh FERRY_HOME, and restores into a package folder of its own so no package
/// comes from an earlier run's cache.
/// </summary>
public sealed class InstallTests : IAsyncLifetime
{
    private static readonly TimeSpan PackLimit = TimeSpan.FromMinutes(6);
    private static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(4);

    private readonly string _root = Path.Combine(Path.GetTempPath(), "ferry-install-" + Guid.NewGuid().ToString("N")[..8]);
    private LocalHome? _home;

    private string Feed => Path.Combine(_root, "feed");

    private string Tools => Path.Combine(_root, "tools");

    private string Work => Path.Combine(_root, "work");

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(Work);
        _home = LocalHome.Create();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (_home is not null)
        {
            await _home.DisposeAsync();
        }
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task Installed_tool_runs_a_file_with_package_directives_and_a_project_from_the_template()
    {
        var repo = RepositoryRoot();
        var pack = await RunAsync(Path.Combine(repo, "eng", "pack"), [Feed], repo, PackLimit, isolatePackages: false);
        pack.ExitCode.Should().Be(0, pack.Output);
        Directory.GetFiles(Feed, "*.nupkg").Select(Path.GetFileName).Should().BeEquivalentTo(
            "Ferry.0.1.0.nupkg", "Ferry.Protocol.0.1.0.nupkg", "Ferry.Web.0.1.0.nupkg", "Ferry.Cli.0.1.0.nupkg", "Ferry.Templates.0.1.0.nupkg");

        var install = await RunAsync("dotnet", ["tool", "install", "--tool-path", Tools, "Ferry.Cli", "--add-source", Feed], Work, RunLimit);
        install.ExitCode.Should().Be(0, install.Output);
        var ferry = Path.Combine(Tools, "ferry");

        // A one-file app that pulls a NuGet package in with a directive, as a .NET 10 file-based program does.
        await File.WriteAllTextAsync(Path.Combine(Work, "humane.cs"), """
            #:package Humanizer.Core@3.0.10
            using Ferry;
            using Humanizer;

            var app = new App("humane");
            var words = app.Function(Words);

            app.LocalEntrypoint(async () => Console.WriteLine("words: " + await words.RemoteAsync(1234)));

            return await app.RunAsync(args);

            static string Words(int n) => n.ToWords();
            """);
        var file = await RunAsync(ferry, ["run", "humane.cs"], Work, RunLimit);
        file.ExitCode.Should().Be(0, file.Output);
        file.Output.Should().Contain("words: one thousand two hundred and thirty-four");

        // The templates, from the same feed, in a hive of their own.
        var hive = Path.Combine(_root, "hive");
        var templates = await RunAsync("dotnet", ["new", "install", Path.Combine(Feed, "Ferry.Templates.0.1.0.nupkg"), "--debug:custom-hive", hive], Work, RunLimit);
        templates.ExitCode.Should().Be(0, templates.Output);
        var created = await RunAsync("dotnet", ["new", "ferry-app", "-n", "shop", "-o", "shop", "--debug:custom-hive", hive], Work, RunLimit);
        created.ExitCode.Should().Be(0, created.Output);

        // The project references the Ferry package; this feed is where it comes from.
        await File.WriteAllTextAsync(Path.Combine(Work, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="ferry" value="{Feed}" />
              </packageSources>
            </configuration>
            """);
        var project = await RunAsync(ferry, ["run", "shop"], Work, RunLimit);
        project.ExitCode.Should().Be(0, project.Output);
        project.Output.Should().Contain("49").And.Contain("Hello, Ferry, from a container.");
        var squares = project.Output.Split('\n').Select(l => l.Trim()).Where(l => l is "1" or "4" or "9" or "16" or "25").ToList();
        squares.Should().Equal("1", "4", "9", "16", "25");

        // The tool carries the placeholder program: the local worker copies it to its data dir only when every file of
        // it is there, and otherwise says that placeholders are off.
        File.Exists(Path.Combine(_home!.WorkerDir, "placeholder", "Ferry.Placeholder.deps.json")).Should().BeTrue(_home.LogTail());
        File.ReadAllText(Ferry.Cli.FerryHome.ServerLog).Should().NotContain("Placeholders are off");
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Ferry.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("The test runs outside a checkout of Ferry: no Ferry.slnx above " + AppContext.BaseDirectory);
    }

    private Task<(int ExitCode, string Output)> RunAsync(string command, IReadOnlyList<string> arguments, string directory, TimeSpan limit, bool isolatePackages = true) =>
        CliProcess.RunAsync(arguments, directory, limit,
            // A package folder of the test's own: nothing comes from an earlier run's cache of the same version.
            isolatePackages ? new Dictionary<string, string> { ["NUGET_PACKAGES"] = Path.Combine(_root, "packages") } : null,
            command);
}
