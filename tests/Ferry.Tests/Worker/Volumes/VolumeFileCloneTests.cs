using FluentAssertions;
using Ferry.Worker.Volumes;

namespace Ferry.Tests;

public sealed class VolumeFileCloneTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-clone").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void CloneOrCopy_writing_into_the_copy_in_place_leaves_the_source_unchanged()
    {
        var source = Path.Combine(_dir, "cached");
        var target = Path.Combine(_dir, "copy");
        File.WriteAllBytes(source, [1, 2, 3, 4]);

        FileClone.CloneOrCopy(source, target);
        using (var stream = new FileStream(target, FileMode.Open, FileAccess.Write))
        {
            stream.Write([9, 9]);
        }

        File.ReadAllBytes(source).Should().Equal(1, 2, 3, 4);
        File.ReadAllBytes(target).Should().Equal(9, 9, 3, 4);
    }

    [Fact]
    public void CloneOrCopy_over_an_existing_file_replaces_it_and_leaves_no_temporary_file()
    {
        var source = Path.Combine(_dir, "cached");
        var target = Path.Combine(_dir, "copy");
        File.WriteAllBytes(source, [1, 2, 3]);
        File.WriteAllBytes(target, [7, 7, 7, 7, 7]);

        FileClone.CloneOrCopy(source, target);

        File.ReadAllBytes(target).Should().Equal(1, 2, 3);
        Directory.GetFiles(_dir).Select(Path.GetFileName).Should().BeEquivalentTo("cached", "copy");
    }
}
