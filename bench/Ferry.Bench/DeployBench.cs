using System.Collections.Concurrent;
using System.Diagnostics;

namespace Ferry.Bench;

/// <summary>
/// A redeploy as a user does it, with the <c>ferry</c> command as a process against the harness's server: how long from
/// <c>ferry deploy</c> of an edited file until the new version answers, and the latency callers see meanwhile against
/// the same callers before it; then <c>ferry serve</c>'s time from saving an edit to the edit answering. The floor of
/// each is a <c>dotnet build</c> of the same edited file, measured in the same run.
/// </summary>
internal static class DeployBench
{
    public sealed record Result(
        double RedeploySeconds, double DeployCommandSeconds, double P99BeforeMs, double P99DuringMs, int Calls, int Failures,
        double ServeEditSeconds, double BuildFloorSeconds);

    private const int Callers = 4;

    public static async Task<Result> RunAsync(Harness harness)
    {
        var work = Directory.CreateTempSubdirectory("ferry-bench-deploy-").FullName;
        var name = "bench-" + Guid.NewGuid().ToString("N")[..6];
        var file = Path.Combine(work, "app.cs");
        var environment = new Dictionary<string, string>
        {
            ["FERRY_SERVER_URL"] = harness.Server.Url.ToString(),
            ["FERRY_TOKEN"] = harness.AdminToken,
            ["FERRY_HOME"] = Path.Combine(work, "home"),
        };
        using var connection = new FerryConnection(harness.Server.Url, harness.AdminToken);
        try
        {
            await File.WriteAllTextAsync(file, Source(name, "v1"));
            await FerryAsync(["deploy", file], work, environment);
            var version = await Function.FromNameAsync<Function<string>>(name, "Version", connection);
            while (await version.RemoteAsync() != "v1")
            {
            }

            // Callers run throughout: a baseline, then the redeploy, until the new version has answered for a while.
            var clock = Stopwatch.StartNew();
            var samples = new ConcurrentBag<(double StartMs, double LatencyMs, string Result)>();
            var failures = 0;
            using var stop = new CancellationTokenSource();
            async Task CallAsync()
            {
                while (!stop.IsCancellationRequested)
                {
                    var start = clock.Elapsed.TotalMilliseconds;
                    try
                    {
                        var result = await version.RemoteAsync();
                        samples.Add((start, clock.Elapsed.TotalMilliseconds - start, result));
                    }
                    catch (FerryException)
                    {
                        Interlocked.Increment(ref failures);
                    }
                }
            }
            var callers = Enumerable.Range(0, Callers).Select(_ => Task.Run(CallAsync)).ToList();
            await Task.Delay(TimeSpan.FromSeconds(3));
            await File.WriteAllTextAsync(file, Source(name, "v2"));
            var deployStart = clock.Elapsed.TotalMilliseconds;
            await FerryAsync(["deploy", file], work, environment);
            var deployEnd = clock.Elapsed.TotalMilliseconds;
            while (!samples.Any(s => s.Result == "v2"))
            {
                await Task.Delay(10);
            }
            await Task.Delay(TimeSpan.FromSeconds(2));
            await stop.CancelAsync();
            await Task.WhenAll(callers);
            var firstV2 = samples.Where(s => s.Result == "v2").Min(s => s.StartMs + s.LatencyMs);
            var before = samples.Where(s => s.StartMs + s.LatencyMs < deployStart).Select(s => s.LatencyMs).ToList();
            var during = samples.Where(s => s.StartMs + s.LatencyMs >= deployStart && s.StartMs <= firstV2).Select(s => s.LatencyMs).ToList();

            var serveEdit = await ServeEditAsync(work, name, environment, connection);
            var floor = await BuildFloorAsync(work, name);
            await FerryAsync(["app", "stop", name], work, environment);
            return new Result((firstV2 - deployStart) / 1000, (deployEnd - deployStart) / 1000, P99(before), P99(during), samples.Count, failures, serveEdit, floor);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>Seconds from saving an edit to a served app until a call by name gets the edited code's answer.</summary>
    private static async Task<double> ServeEditAsync(string work, string name, IReadOnlyDictionary<string, string> environment, FerryConnection connection)
    {
        var file = Path.Combine(work, "served.cs");
        await File.WriteAllTextAsync(file, Source(name, "s1"));
        using var serve = Start(["serve", file], work, environment);
        try
        {
            var served = name + "-serve";
            Function<string>? version = null;
            while (version is null || await version.RemoteAsync() != "s1")
            {
                if (serve.HasExited)
                {
                    throw new InvalidOperationException("ferry serve ended before its app answered.");
                }
                try
                {
                    version ??= await Function.FromNameAsync<Function<string>>(served, "Version", connection);
                }
                catch (NotFoundException)
                {
                    await Task.Delay(50);
                }
            }
            var clock = Stopwatch.StartNew();
            await File.WriteAllTextAsync(file, Source(name, "s2"));
            while (await version.RemoteAsync() != "s2")
            {
            }
            return clock.Elapsed.TotalSeconds;
        }
        finally
        {
            serve.Kill(entireProcessTree: true);
            await serve.WaitForExitAsync();
        }
    }

    /// <summary>A plain <c>dotnet build</c> of an edited copy of the app: what any change to it costs before Ferry starts.</summary>
    private static async Task<double> BuildFloorAsync(string work, string name)
    {
        var dir = Path.Combine(work, "floor");
        Directory.CreateDirectory(dir);
        var sdk = AppContext.BaseDirectory;
        await File.WriteAllTextAsync(Path.Combine(dir, "floor.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                <Using Include="Ferry" />
                <Reference Include="Ferry"><HintPath>{Path.Combine(sdk, "Ferry.dll")}</HintPath></Reference>
                <Reference Include="Ferry.Protocol"><HintPath>{Path.Combine(sdk, "Ferry.Protocol.dll")}</HintPath></Reference>
              </ItemGroup>
            </Project>
            """);
        await File.WriteAllTextAsync(Path.Combine(dir, "app.cs"), Source(name, "f1"));
        await RunAsync("dotnet", ["build", dir, "-c", "Release", "--nologo", "-v", "quiet"], dir, new Dictionary<string, string>());
        await File.WriteAllTextAsync(Path.Combine(dir, "app.cs"), Source(name, "f2"));
        var clock = Stopwatch.StartNew();
        await RunAsync("dotnet", ["build", dir, "-c", "Release", "--nologo", "-v", "quiet"], dir, new Dictionary<string, string>());
        return clock.Elapsed.TotalSeconds;
    }

    private static string Source(string name, string version) => $$"""
        using Ferry;

        var app = new App("{{name}}");
        app.Function(Version, new FunctionOptions { MinContainers = 1 });
        return await app.RunAsync(args);

        static string Version() => "{{version}}";
        """;

    private static double P99(IReadOnlyList<double> latencies)
    {
        if (latencies.Count == 0)
        {
            return double.NaN;
        }
        var sorted = latencies.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(sorted.Count * 0.99) - 1)];
    }

    private static Task FerryAsync(IReadOnlyList<string> arguments, string directory, IReadOnlyDictionary<string, string> environment) =>
        RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "Ferry.Cli.dll"), .. arguments], directory, environment);

    private static Process Start(IReadOnlyList<string> arguments, string directory, IReadOnlyDictionary<string, string> environment)
    {
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Ferry.Cli.dll"));
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }
        var process = Process.Start(info)!;
        // Drained so a chatty command never blocks on a full pipe.
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task RunAsync(string command, IReadOnlyList<string> arguments, string directory, IReadOnlyDictionary<string, string> environment)
    {
        var info = new ProcessStartInfo(command) { WorkingDirectory = directory, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{command} {string.Join(' ', arguments)} failed ({process.ExitCode}):\n{await stdout}{await stderr}");
        }
    }
}
