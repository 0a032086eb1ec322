using FluentAssertions;
using Ferry.Protocol;
using Ferry.Worker.Images;

namespace Ferry.Tests.Images;

public sealed class BuildContainerTests
{
    [Fact]
    public void Apt_steps_refresh_package_lists_only_when_a_download_fails_and_quote_their_packages()
    {
        var script = BuildContainer.Script(new ImageStep(ImageStepKinds.AptInstall, ["jq", "libc6=2.36"]));

        script.Should().Contain("apt-get install -y -q --no-install-recommends 'jq' 'libc6=2.36'")
            .And.Contain("grep -q -e 'Failed to fetch' -e 'Unable to fetch' /tmp/apt.log || exit 100");
    }

    [Fact]
    public void Each_command_is_echoed_before_it_runs_and_quotes_survive()
    {
        var script = BuildContainer.Script(new ImageStep(ImageStepKinds.RunCommands, ["echo 'it''s'"]));

        script.Should().Be("set -e\nprintf '%s\\n' '$ echo '\\''it'\\'''\\''s'\\'''\necho 'it''s'\n");
    }
}
