using FluentAssertions;
using Ferry.Protocol;
using Ferry.Worker;
using Ferry.Worker.Runtimes;
using Ferry.Worker.Runtimes.Placeholders;

namespace Ferry.Tests;

/// <summary>
/// The .NET settings a container starts with: the worker's defaults, tiering and the thread pool's spinning off for a
/// container started for throughput, and the function's secrets over both; and which of them a placeholder can serve.
/// </summary>
public sealed class ContainerRuntimeSettingsTests : IDisposable
{
    private readonly string _build = Path.Combine(Path.GetTempPath(), "ferry-settings-" + Guid.NewGuid().ToString("N")[..8]);

    public ContainerRuntimeSettingsTests()
    {
        Directory.CreateDirectory(_build);
        File.WriteAllText(Path.Combine(_build, "App.runtimeconfig.json"),
            """{"runtimeOptions":{"tfm":"net10.0","framework":{"name":"Microsoft.NETCore.App","version":"10.0.0"}}}""");
    }

    public void Dispose() => Directory.Delete(_build, recursive: true);

    private static Dictionary<string, string> Environment(bool forThroughput, Dictionary<string, string>? secrets = null)
    {
        var environment = new Dictionary<string, string>(secrets ?? []);
        WorkerAgent.AddRuntimeSettings(environment, forThroughput);
        return environment;
    }

    private PlaceholderKind? KindOf(Dictionary<string, string> environment) =>
        ProcessRuntime.KindOf(new ContainerSpec("ct-1", _build, "App.dll", environment, new FunctionSettings(), []), null);

    [Fact]
    public void A_container_for_a_call_gets_the_defaults_and_can_be_a_placeholder()
    {
        var environment = Environment(forThroughput: false);

        environment.Should().Equal(new Dictionary<string, string> { ["DOTNET_TieredPGO"] = "0" });
        KindOf(environment).Should().NotBeNull();
    }

    [Fact]
    public void A_container_for_throughput_starts_with_tiering_and_spinning_off_as_a_new_process()
    {
        var environment = Environment(forThroughput: true);

        environment.Should().Equal(new Dictionary<string, string>
        {
            ["DOTNET_TieredPGO"] = "0",
            ["DOTNET_TieredCompilation"] = "0",
            ["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] = "0",
        });
        KindOf(environment).Should().BeNull("a placeholder started with tiering on, and the setting acts only at start");
    }

    [Fact]
    public void The_functions_secrets_win_over_both()
    {
        var environment = Environment(forThroughput: true, new Dictionary<string, string> { ["DOTNET_TieredCompilation"] = "1", ["DOTNET_TieredPGO"] = "1" });

        environment["DOTNET_TieredCompilation"].Should().Be("1");
        environment["DOTNET_TieredPGO"].Should().Be("1");
    }
}
