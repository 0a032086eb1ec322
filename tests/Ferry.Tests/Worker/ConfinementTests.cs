using FluentAssertions;
using Ferry.Worker;

namespace Ferry.Tests;

public sealed class ConfinedPathTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-confined").FullName;

    private string Root => Path.Combine(_dir, "root");

    public ConfinedPathTests()
    {
        Directory.CreateDirectory(Path.Combine(Root, "a"));
        Directory.CreateDirectory(Path.Combine(_dir, "outside"));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_path_that_stays_inside_resolves_to_its_full_path()
    {
        ConfinedPath.Resolve(Root, "a/b.txt").Should().Be(Path.Combine(Root, "a", "b.txt"));
        ConfinedPath.Resolve(Root, "a/../c/d").Should().Be(Path.Combine(Root, "c", "d"));
        ConfinedPath.Resolve(Root + "/", ".").Should().Be(Root);
        ConfinedPath.ResolveInImage(Root, "/srv/work").Should().Be(Path.Combine(Root, "srv", "work"));
    }

    [Theory]
    [InlineData("../outside/x")]
    [InlineData("a/../../outside")]
    [InlineData("..")]
    [InlineData("/etc/passwd")]
    [InlineData("a/b\0c")]
    public void A_path_that_leaves_the_root_is_refused(string path)
    {
        ConfinedPath.Resolve(Root, path).Should().BeNull();
    }

    [Theory]
    [InlineData("/../outside")]
    [InlineData("/srv/../../outside")]
    [InlineData("srv")]
    public void A_container_path_that_is_relative_or_climbs_out_of_the_image_is_refused(string path)
    {
        ConfinedPath.ResolveInImage(Root, path).Should().BeNull();
    }

    [Fact]
    public void A_path_through_a_link_is_refused_even_a_dangling_one()
    {
        File.CreateSymbolicLink(Path.Combine(Root, "a", "out"), Path.Combine(_dir, "outside"));
        File.CreateSymbolicLink(Path.Combine(Root, "dangling"), Path.Combine(_dir, "outside", "new.txt"));

        ConfinedPath.Resolve(Root, "a/out/x.txt").Should().BeNull();
        ConfinedPath.Resolve(Root, "a/out").Should().BeNull();
        ConfinedPath.Resolve(Root, "dangling").Should().BeNull();
        ConfinedPath.Resolve(Root, "a/new.txt").Should().Be(Path.Combine(Root, "a", "new.txt"));
    }
}
