using FluentAssertions;
using Ferry.Server.Storage;

namespace Ferry.Tests.Storage;

public sealed class CheckpointMarkTests
{
    [Fact]
    public void Reached_LogGrowingPastTheMarkWhileItCannotStartOver_AsksOncePerMarkOfGrowth()
    {
        var mark = new CheckpointMark(1000);

        var asked = Enumerable.Range(1, 30).Select(i => i * 100L).Where(mark.Reached).ToList();

        asked.Should().Equal(1000L, 2000L, 3000L);
    }

    [Fact]
    public void Reached_LogThatStartedOver_CountsItsGrowthFromItsStart()
    {
        var mark = new CheckpointMark(1000);
        mark.Reached(1200).Should().BeTrue();

        mark.Reached(100).Should().BeFalse("the log started over after the checkpoint and is small");
        mark.Reached(900).Should().BeFalse();
        mark.Reached(1000).Should().BeTrue();
    }

    [Fact]
    public void Overdue_FromTwiceTheCheckpointSize()
    {
        var mark = new CheckpointMark(1000);

        new[] { 1999L, 2000L, 5000L }.Select(mark.Overdue).Should().Equal(false, true, true);
    }

    [Fact]
    public void Reached_NoLogYet_IsNotAMark()
    {
        new CheckpointMark(1000).Reached(0).Should().BeFalse();
    }
}
