using FluentAssertions;
using Ferry.Protocol;
using Ferry.Protocol.Validation;

namespace Ferry.Tests;

public sealed class VolumePathsTests
{
    [Theory]
    [InlineData("a/b.txt", false, "a/b.txt")]
    [InlineData("/a//./b.txt", true, "a/b.txt")]
    [InlineData("/", true, "")]
    [InlineData("", false, "")]
    public void Normalize_CanonicalizesPathsThatStayInside(string path, bool rootedOk, string expected)
    {
        VolumePaths.Normalize(path, rootedOk, out var problem).Should().Be(expected);
        problem.Should().BeNull();
    }

    [Theory]
    [InlineData("../x", false, "'..' part")]
    [InlineData("a/../../x", true, "'..' part")]
    [InlineData("/etc/passwd", false, "is absolute")]
    [InlineData("a\\b", false, "backslash")]
    [InlineData("a\0b", false, "NUL")]
    public void Normalize_RefusesPathsThatLeaveOrAreAmbiguous_SayingWhy(string path, bool rootedOk, string why)
    {
        VolumePaths.Normalize(path, rootedOk, out var problem).Should().BeNull();
        problem.Should().Contain(why);
    }

    [Theory]
    [InlineData("/data", null)]
    [InlineData("/mnt/models", null)]
    [InlineData("data", "absolute path")]
    [InlineData("/", "root directory")]
    [InlineData("/data/", "canonically, as '/data'")]
    [InlineData("/a/../b", "'..' part")]
    [InlineData("/proc/x", "/proc")]
    [InlineData("/app", "/app")]
    [InlineData("/run/ferry/volumes", "/run/ferry")]
    public void MountProblem_NamesWhatIsWrongWithAMountPath(string path, string? problem)
    {
        if (problem is null)
        {
            VolumePaths.MountProblem(path).Should().BeNull();
        }
        else
        {
            VolumePaths.MountProblem(path).Should().Contain(problem);
        }
    }

    [Fact]
    public void WireValidator_RefusesAVolumeMountedTwiceOrTwoVolumesAtOnePath()
    {
        var twice = new FunctionSettings { Volumes = [new VolumeMount("/a", "v"), new VolumeMount("/b", "v")] };
        var onePath = new FunctionSettings { Volumes = [new VolumeMount("/a", "v"), new VolumeMount("/a", "w")] };
        var badName = new FunctionSettings { Volumes = [new VolumeMount("/a", "no/slash")] };

        WireValidator.Check(twice).Should().Contain("volumes[1].volume").And.Contain("a second time");
        WireValidator.Check(onePath).Should().Contain("volumes[1].path").And.Contain("already a mount path");
        WireValidator.Check(badName).Should().Contain("volumes[0].volume").And.Contain("not a volume name");
        WireValidator.Check(new FunctionSettings { Volumes = [new VolumeMount("/a", "v"), new VolumeMount("/b", "w", CreateIfMissing: true)] }).Should().BeNull();
    }
}
