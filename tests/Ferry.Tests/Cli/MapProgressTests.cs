using FluentAssertions;
using Ferry.Cli.Progress;
using Ferry.Protocol;

namespace Ferry.Tests;

public sealed class MapProgressTests
{
    [Theory]
    [InlineData(false, false, false, null, "xterm-256color", true)]
    [InlineData(true, false, false, null, "xterm-256color", false)]
    [InlineData(false, true, false, null, "xterm-256color", false)]
    [InlineData(true, true, false, null, null, false)]
    [InlineData(false, false, true, null, "xterm-256color", false)]
    [InlineData(false, false, false, "0", "xterm-256color", false)]
    [InlineData(false, false, false, "off", "xterm-256color", false)]
    [InlineData(false, false, false, " False ", "xterm-256color", false)]
    [InlineData(false, false, false, "no", "xterm-256color", false)]
    [InlineData(false, false, false, "1", "xterm-256color", true)]
    [InlineData(false, false, false, "", null, true)]
    [InlineData(false, false, false, null, "dumb", false)]
    public void ShouldDraw_Environment_DrawsOnlyForAPersonAtATerminal(bool stdoutRedirected, bool stderrRedirected, bool noProgress, string? variable, string? term, bool expected) =>
        new ProgressEnvironment(stdoutRedirected, stderrRedirected, noProgress, variable, term).ShouldDraw.Should().Be(expected);

    [Fact]
    public void From_CallProgress_CountsOutcomesFailuresAndRate()
    {
        var counts = MapCounts.From(new CallProgress("fc-1", Total: 100, Succeeded: 35, Failed: 2, Final: true), TimeSpan.FromSeconds(10));

        counts.Should().Be(new MapCounts(Done: 37, Total: 100, Failed: 2, AllSubmitted: true, PerSecond: 3.7));
        counts.CountText.Should().Be("37/100");
        counts.RateText.Should().Be("3.7/s");
        counts.FailedText.Should().Be("2 failed");
        counts.IsComplete.Should().BeFalse();
    }

    [Fact]
    public void From_InputsStillArriving_MarksTheTotalAsALowerBound()
    {
        var counts = MapCounts.From(new CallProgress("fc-1", Total: 60, Succeeded: 60, Failed: 0, Final: false), TimeSpan.FromSeconds(2));

        counts.CountText.Should().Be("60/60+");
        counts.FailedText.Should().BeEmpty();
        counts.IsComplete.Should().BeFalse("more inputs may come");
    }

    [Fact]
    public void From_EveryInputDone_IsComplete()
    {
        var counts = MapCounts.From(new CallProgress("fc-1", Total: 5, Succeeded: 4, Failed: 1, Final: true), TimeSpan.FromMilliseconds(40));

        counts.IsComplete.Should().BeTrue();
        counts.RateText.Should().Be("125/s");
    }

    [Fact]
    public void From_NothingDoneYet_ShowsNoRate()
    {
        var counts = MapCounts.From(new CallProgress("fc-1", Total: 5, Succeeded: 0, Failed: 0, Final: true), TimeSpan.Zero);

        counts.PerSecond.Should().Be(0);
        counts.RateText.Should().Be("-/s");
        counts.CountText.Should().Be("0/5");
    }

    [Fact]
    public void Start_NotATerminal_ListensForNothing()
    {
        using var client = new Ferry.Client.FerryClient(new Uri("http://127.0.0.1:1/"), "token");

        MapProgress.Start(client, new ProgressEnvironment(true, true, false, null, "xterm")).Should().BeNull();
    }
}
