using System.Text.Json;
using FluentAssertions;
using Ferry.Client;
using Ferry.Protocol;

namespace Ferry.IntegrationTests;

/// <summary>
/// The <c>ferry</c> command as a user meets it, run as a process with its own local server on a fresh FERRY_HOME:
/// each mistake gets one clear message and exit code, and Ctrl-C leaves nothing running.
/// </summary>
public sealed class CliTests : IAsyncLifetime
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);
    private readonly string _work = Path.Combine(Path.GetTempPath(), "ferry-cli-" + Guid.NewGuid().ToString("N")[..8]);
    private LocalHome? _home;

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(_work);
        _home = LocalHome.Create();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (_home is not null)
        {
            await _home.DisposeAsync();
        }
        Directory.Delete(_work, recursive: true);
    }

    private async Task<(int ExitCode, string Output)> RunFileAsync(string name, string source, params string[] extra)
    {
        await File.WriteAllTextAsync(Path.Combine(_work, name), source);
        return await CliProcess.RunAsync(["run", name, .. extra], _work, Limit);
    }

    [Fact]
    public async Task Run_ProgramWithoutRunAsync_SaysToAddItAndExits1()
    {
        var (exitCode, output) = await RunFileAsync("norun.cs", """
            using Ferry;
            var app = new App("norun");
            var square = app.Function(Square);
            static int Square(int x) => x * x;
            """);

        exitCode.Should().Be(1, output);
        output.Should().Contain("Error: the program ended without calling app.RunAsync, so Ferry ran nothing. End the program with `return await app.RunAsync(args);` after the app's registrations.");
    }

    [Fact]
    public async Task Run_LocalEntrypointThrows_PrintsTypeMessageAndUserFramesOnlyAndExits1()
    {
        var (exitCode, output) = await RunFileAsync("thrower.cs", """
            using Ferry;
            var app = new App("thrower");
            var square = app.Function(Square);
            app.LocalEntrypoint(async () => { await Task.Yield(); Helper.Boom(); });
            return await app.RunAsync(args);
            static int Square(int x) => x * x;
            static class Helper
            {
                public static void Boom() => throw new InvalidOperationException("the local code failed", new FormatException("bad number"));
            }
            """);

        exitCode.Should().Be(1, output);
        output.Should().Contain("Error: the local entrypoint raised System.InvalidOperationException: the local code failed\n   at Helper.Boom() in ");
        output.Should().Contain("thrower.cs:line 9").And.Contain("Caused by System.FormatException: bad number");
        output.Should().NotContain("at Ferry.").And.NotContain("Unhandled exception");
    }

    [Fact]
    public async Task AppList_Json_ParsesAndNamesTheAppByTheNameGivenToApp()
    {
        var (exitCode, output) = await RunFileAsync("named.cs", """
            using Ferry;
            var app = new App("my-shop");
            var square = app.Function(Square);
            app.LocalEntrypoint(async () => Console.WriteLine(await square.RemoteAsync(3)));
            return await app.RunAsync(args);
            static int Square(int x) => x * x;
            """);
        exitCode.Should().Be(0, output);

        using var list = CliProcess.Start(["app", "list", "--json"], _work);
        (await list.WaitForExitAsync(Limit)).Should().Be(0, list.Output);

        var apps = JsonSerializer.Deserialize(list.Output, ProtocolJsonContext.Default.AppList)!.Apps;
        apps.Should().ContainSingle().Which.Name.Should().Be("my-shop");
        (await CliProcess.RunAsync(["app", "logs", "my-shop"], _work, Limit)).ExitCode.Should().Be(0);
    }

    [Fact]
    public async Task Run_SigintDuringAMap_StopsTheAppItsContainersAndTheLocalProgram()
    {
        await File.WriteAllTextAsync(Path.Combine(_work, "longmap.cs"), """
            using Ferry;
            var app = new App("longmap");
            var slow = app.Function(Slow, new FunctionOptions { MaxContainers = 2 });
            app.LocalEntrypoint(async () =>
            {
                Console.WriteLine($"local pid {Environment.ProcessId}");
                var done = 0;
                await foreach (var x in slow.MapAsync(Enumerable.Range(0, 10_000)))
                {
                    if (++done == 10)
                    {
                        Console.WriteLine("ten done");
                    }
                }
                Console.WriteLine("map finished");
            });
            return await app.RunAsync(args);
            static async Task<int> Slow(int x) { await Task.Delay(100); return x; }
            """);
        using var run = CliProcess.Start(["run", "longmap.cs"], _work);
        await run.WaitForLineAsync(l => l == "ten done", Limit);
        var localPid = int.Parse(run.Output.Split('\n').First(l => l.StartsWith("local pid ", StringComparison.Ordinal))["local pid ".Length..], System.Globalization.CultureInfo.InvariantCulture);

        await run.SignalAsync("INT");
        var exitCode = await run.WaitForExitAsync(TimeSpan.FromSeconds(60));

        exitCode.Should().Be(130, run.Output);
        run.Output.Should().Contain("Interrupted: stopping app ").And.Contain("Stopped app ").And.NotContain("map finished");
        var (url, _) = _home!.ReadState();
        using var client = new FerryClient(url, File.ReadAllText(Ferry.Cli.FerryHome.TokenFile).Trim());
        var apps = await client.SendAsync<object, AppList>(HttpMethod.Get, Routes.Apps, null, null, ProtocolJsonContext.Default.AppList, CancellationToken.None);
        apps.Apps.Should().ContainSingle().Which.State.Should().Be("stopped");
        var containers = await client.SendAsync<object, ContainerList>(HttpMethod.Get, Routes.Containers(null), null, null, ProtocolJsonContext.Default.ContainerList, CancellationToken.None);
        containers.Containers.Should().BeEmpty();
        // The command killed the local program before it exited; the kernel may take a moment to reap it.
        await ExitOfAsync(localPid).WaitAsync(TimeSpan.FromSeconds(10));
    }

    private const string CountApp = """
        using Ferry;
        var app = new App("counter");
        var square = app.Function(Square);
        app.LocalEntrypoint(async (int count) => Console.WriteLine(await square.RemoteAsync(count)));
        return await app.RunAsync(args);
        static int Square(int x) => x * x;
        """;

    private async Task<IReadOnlyList<AppSummary>> AppsAsync()
    {
        using var list = CliProcess.Start(["app", "list", "--json"], _work);
        (await list.WaitForExitAsync(Limit)).Should().Be(0, list.Output);
        return JsonSerializer.Deserialize(list.Output, ProtocolJsonContext.Default.AppList)!.Apps;
    }

    [Fact]
    public async Task Run_EditOfTheFileAlone_CompilesWithoutMsBuildAndRunsTheNewCode()
    {
        static string Source(int offset) => $$"""
            using Ferry;
            var app = new App("edited");
            var square = app.Function(Square);
            app.LocalEntrypoint(async () => Console.WriteLine($"square {await square.RemoteAsync(3)}"));
            return await app.RunAsync(args);
            static int Square(int x) => x * x + {{offset}};
            """;
        var (exitCode, output) = await RunFileAsync("edited.cs", Source(0));
        exitCode.Should().Be(0, output);
        output.Should().Contain("square 9");
        var build = Directory.GetDirectories(Path.Combine(_home!.Root, "builds")).Single();
        var msbuildOutput = Path.Combine(build, "obj", "Release", $"net{Environment.Version.Major}.0", "edited.dll");
        var builtByMsBuild = File.GetLastWriteTimeUtc(msbuildOutput);

        (exitCode, output) = await RunFileAsync("edited.cs", Source(100));

        exitCode.Should().Be(0, output);
        output.Should().Contain("Built edited.cs").And.Contain("square 109");
        File.GetLastWriteTimeUtc(msbuildOutput).Should().Be(builtByMsBuild, "only the compiler ran, writing straight to the output");

        (exitCode, output) = await RunFileAsync("edited.cs", Source(0).Replace("x * x + 0;", "x * x +;"));

        exitCode.Should().Be(1, output);
        output.Should().Contain("The build of ").And.Contain("edited.cs(6,36): error CS1525: Invalid expression term ';'");
        output.Should().NotContain("App ap-");
    }

    [Fact]
    public async Task Run_FerryHomeItCannotUse_SaysWhichAndHowToFixItAndExits1()
    {
        await File.WriteAllTextAsync(Path.Combine(_work, "counter.cs"), CountApp);
        var file = Path.Combine(_work, "not-a-home");
        await File.WriteAllTextAsync(file, "");

        var (exitCode, output) = await CliProcess.RunAsync(["run", "counter.cs"], _work, Limit, new Dictionary<string, string> { ["FERRY_HOME"] = file });

        exitCode.Should().Be(1, output);
        output.Should().Contain($"Error: Ferry's home '{file}' is a file. Point FERRY_HOME at a directory you can write, or unset it to use ~/.ferry.");
        output.Should().NotContain("Exception").And.NotContain("   at ");

        // Nothing, not even root, can make a directory under /proc.
        (exitCode, output) = await CliProcess.RunAsync(["run", "counter.cs"], _work, Limit, new Dictionary<string, string> { ["FERRY_HOME"] = "/proc/ferry-home" });

        exitCode.Should().Be(1, output);
        output.Should().Contain("Error: Ferry's home '/proc/ferry-home' cannot be used: ").And.Contain("Point FERRY_HOME at a directory you can write");
    }

    [Fact]
    public async Task Run_UnknownName_FailsBeforeAnyAppIsCreatedListingWhatExists()
    {
        await File.WriteAllTextAsync(Path.Combine(_work, "counter.cs"), CountApp);
        var (exitCode, output) = await CliProcess.RunAsync(["run", "counter.cs::nope"], _work, Limit);

        exitCode.Should().Be(1, output);
        output.Should().Contain("Error: 'counter' has no entrypoint or function named 'nope'. Entrypoints: main. Functions: Square.\n");
        output.Should().NotContain("App ap-");
        (await AppsAsync()).Should().BeEmpty();
    }

    [Fact]
    public async Task Run_ArgumentOfTheWrongType_FailsBeforeAnyAppIsCreated()
    {
        var (exitCode, output) = await RunFileAsync("counter.cs", CountApp, "--", "--count", "many");

        exitCode.Should().Be(2, output);
        output.Should().Contain("Error: Option --count expects a Int32, not 'many'.");
        output.Should().NotContain("App ap-");
        (await AppsAsync()).Should().BeEmpty();

        var (goodExit, good) = await CliProcess.RunAsync(["run", "counter.cs", "--", "--count", "7"], _work, Limit);
        goodExit.Should().Be(0, good);
        good.Should().Contain("\n49\n");
        (await AppsAsync()).Should().ContainSingle().Which.Name.Should().Be("counter");
    }

    private const string FiveItemMap = """
        using Ferry;
        var app = new App("progress");
        var square = app.Function(Square);
        app.LocalEntrypoint(async () =>
        {
            var sum = 0;
            await foreach (var x in square.MapAsync(Enumerable.Range(1, 5))) { sum += x; }
            Console.WriteLine($"sum {sum}");
        });
        return await app.RunAsync(args);
        static int Square(int x) => x * x;
        """;

    [Fact]
    public async Task Run_MapWithOutputPiped_PrintsNoProgress()
    {
        var (exitCode, output) = await RunFileAsync("progress.cs", FiveItemMap);

        exitCode.Should().Be(0, output);
        output.Should().Contain("sum 55");
        output.Should().NotContain("\u001b[").And.NotContain("5/5");
    }

    [Fact]
    public async Task Run_MapOnATerminal_DrawsTheBarWithTheCounts()
    {
        await File.WriteAllTextAsync(Path.Combine(_work, "progress.cs"), FiveItemMap);
        // `script` gives the command a pseudo-terminal, as a person's shell would.
        var cli = $"dotnet {Path.Combine(AppContext.BaseDirectory, "Ferry.Cli.dll")} run progress.cs";
        var (exitCode, output) = await CliProcess.RunAsync(["-qec", cli, "/dev/null"], _work, Limit, command: "script");

        exitCode.Should().Be(0, output);
        var plain = System.Text.RegularExpressions.Regex.Replace(output, "\u001b\\[[0-9;?]*[A-Za-z]", "");
        plain.Should().Contain("sum 55").And.MatchRegex("Square .* 5/5 [0-9.]+/s");
        output.Should().Contain("\u001b[", "a terminal gets the live display");
    }

    private static async Task ExitOfAsync(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            await process.WaitForExitAsync();
        }
        catch (ArgumentException)
        {
            // Already gone.
        }
    }
}
