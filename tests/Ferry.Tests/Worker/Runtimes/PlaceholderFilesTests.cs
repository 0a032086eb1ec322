using FluentAssertions;
using Ferry.Worker.Runtimes.Placeholders;

namespace Ferry.Tests.Worker.Runtimes;

public sealed class PlaceholderFilesTests
{
    // The default placeholder's runtime options, as the placeholder program is built.
    internal const string Default = """
        {"runtimeOptions":{"tfm":"net10.0","frameworks":[{"name":"Microsoft.NETCore.App","version":"10.0.0"},{"name":"Microsoft.AspNetCore.App","version":"10.0.0"}],
         "configProperties":{"System.Globalization.Invariant":true,"System.Globalization.PredefinedCulturesOnly":true,
         "System.Reflection.Metadata.MetadataUpdater.IsSupported":false,"System.Runtime.Serialization.EnableUnsafeBinaryFormatterSerialization":false}}}
        """;

    // What `ferry run` builds for a file without web endpoints.
    internal const string RunFile = """
        {"runtimeOptions":{"tfm":"net10.0","framework":{"name":"Microsoft.NETCore.App","version":"10.0.0"},
         "configProperties":{"System.Globalization.Invariant":true,"System.Globalization.PredefinedCulturesOnly":true,
         "System.Reflection.Metadata.MetadataUpdater.IsSupported":false,"System.Runtime.Serialization.EnableUnsafeBinaryFormatterSerialization":false,
         "System.Runtime.TieredPGO":true}}}
        """;

    internal static string Key(string runtimeConfig) => PlaceholderFiles.RuntimeOptionsKey(runtimeConfig)!;

    [Fact]
    public void CanHost_ProgramUsingFewerFrameworksAndSettingTieredPgo_RunsInTheDefault()
    {
        PlaceholderFiles.CanHost(Key(Default), Key(RunFile)).Should().BeTrue();
        PlaceholderFiles.CanHost(Key(RunFile), Key(RunFile)).Should().BeTrue();
    }

    [Fact]
    public void CanHost_ProgramNeedingAFrameworkThePlaceholderLacks_DoesNot() =>
        PlaceholderFiles.CanHost(Key(RunFile), Key(Default)).Should().BeFalse();

    [Theory]
    [InlineData("\"System.Globalization.Invariant\":true", "\"System.Globalization.Invariant\":false")]
    [InlineData("\"version\":\"10.0.0\"}", "\"version\":\"10.0.1\"}")]
    [InlineData("\"tfm\":\"net10.0\"", "\"tfm\":\"net9.0\"")]
    [InlineData("\"System.Runtime.TieredPGO\":true}", "\"System.Runtime.TieredPGO\":true,\"System.GC.Server\":true}")]
    public void CanHost_AnotherSettingOrFrameworkVersion_DoesNot(string from, string to)
    {
        RunFile.Should().Contain(from);

        PlaceholderFiles.CanHost(Key(Default), Key(RunFile.Replace(from, to, StringComparison.Ordinal))).Should().BeFalse();
    }
}
