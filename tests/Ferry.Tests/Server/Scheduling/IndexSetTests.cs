using FluentAssertions;
using Ferry.Server.Scheduling;

namespace Ferry.Tests.Scheduling;

public sealed class IndexSetTests
{
    [Fact]
    public void Add_counts_each_index_once_and_Contains_finds_only_those_added()
    {
        var set = new IndexSet();
        for (var i = 0; i < 200_000; i += 3)
        {
            set.Add(i).Should().BeTrue();
        }

        set.Add(3).Should().BeFalse("3 is there already");
        set.Count.Should().Be(66_667);
        set.Contains(0).Should().BeTrue();
        set.Contains(199_998).Should().BeTrue();
        set.Contains(1).Should().BeFalse();
        // The last index of the first page and the first multiple of 3 on the second.
        set.Contains(65_535).Should().BeTrue();
        set.Contains(65_534).Should().BeFalse();
        set.Contains(65_536).Should().BeFalse();
        set.Contains(65_538).Should().BeTrue();
        set.Contains(200_001).Should().BeFalse();
    }

    [Fact]
    public void Indices_far_apart_and_at_the_ends_of_the_range_are_kept_apart()
    {
        var set = new IndexSet();

        set.Add(int.MaxValue).Should().BeTrue();
        set.Add(0).Should().BeTrue();
        set.Add(63).Should().BeTrue();
        set.Add(64).Should().BeTrue();

        set.Count.Should().Be(4);
        set.Contains(int.MaxValue).Should().BeTrue();
        set.Contains(int.MaxValue - 1).Should().BeFalse();
        set.Contains(62).Should().BeFalse();
        set.Contains(65).Should().BeFalse();

        // A page grows as higher indices arrive and keeps the ones it had.
        set.Add(65_536 + 5).Should().BeTrue();
        set.Add(65_536 + 4_000).Should().BeTrue();
        set.Add(3_000).Should().BeTrue();
        set.Count.Should().Be(7);
        set.Contains(65_536 + 5).Should().BeTrue();
        set.Contains(65_536 + 4_000).Should().BeTrue();
        set.Contains(64).Should().BeTrue();
        set.Contains(3_000).Should().BeTrue();
        set.Contains(65_536 + 4_001).Should().BeFalse();
    }

    [Fact]
    public void Remove_takes_out_only_what_was_there()
    {
        var set = new IndexSet();
        set.Add(5);
        set.Add(70_000);

        set.Remove(5).Should().BeTrue();
        set.Remove(5).Should().BeFalse();
        set.Remove(6).Should().BeFalse();
        set.Remove(1_000_000).Should().BeFalse("its page was never made");

        set.Count.Should().Be(1);
        set.Contains(5).Should().BeFalse();
        set.Contains(70_000).Should().BeTrue();
        set.Add(5).Should().BeTrue();
        set.Count.Should().Be(2);
    }

    [Fact]
    public void A_negative_index_is_refused()
    {
        var set = new IndexSet();

        set.Invoking(s => s.Add(-1)).Should().Throw<ArgumentOutOfRangeException>();
        set.Invoking(s => s.Contains(-1)).Should().Throw<ArgumentOutOfRangeException>();
        set.Count.Should().Be(0);
    }
}
