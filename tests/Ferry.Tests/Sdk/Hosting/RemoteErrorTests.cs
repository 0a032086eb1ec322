using FluentAssertions;
using Ferry.Hosting;

namespace Ferry.Tests;

public class RemoteErrorTests
{
    [Fact]
    public void An_aggregate_sends_its_children_and_not_its_first_child_twice()
    {
        var error = ContainerRunner.ToRemoteError(new AggregateException("many", new IOException("one"), new TimeoutException("two")));

        error.Type.Should().Be("System.AggregateException");
        error.Inner.Should().BeNull();
        error.Children!.Select(c => (c.Type, c.Message)).Should().Equal(("System.IO.IOException", "one"), ("System.TimeoutException", "two"));
    }

    [Fact]
    public void A_pathological_tree_is_cut_at_a_bounded_number_of_exceptions()
    {
        var wide = new AggregateException(Enumerable.Range(0, 100).Select(i => new AggregateException($"{i}", new IOException("a"), new IOException("b"))));

        var error = ContainerRunner.ToRemoteError(wide);

        Count(error).Should().Be(32);
    }

    [Fact]
    public void A_deep_chain_is_cut_at_eight_levels()
    {
        Exception deep = new IOException("bottom");
        for (var i = 0; i < 20; i++)
        {
            deep = new InvalidOperationException($"level {i}", deep);
        }

        var error = ContainerRunner.ToRemoteError(deep);

        Count(error).Should().Be(8);
    }

    private static int Count(Ferry.Protocol.RemoteError error) =>
        1 + (error.Inner is { } inner ? Count(inner) : 0) + (error.Children?.Sum(Count) ?? 0);
}
