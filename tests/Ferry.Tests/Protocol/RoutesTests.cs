using System.Globalization;
using FluentAssertions;
using Ferry.Protocol;

namespace Ferry.Tests;

public sealed class RoutesTests
{
    [Fact]
    public void Each_path_is_spelled_as_the_wire_has_it()
    {
        string[] paths =
        [
            Routes.Health, Routes.MissingBlobs, Routes.Blob("ab12"), Routes.Builds, Routes.Build("bd-1"), Routes.Apps, Routes.App("ap-1"),
            Routes.Definition("ap-1"), Routes.StopApp("ap-1"), Routes.AppLogs("ap-1"), Routes.Shell("ap-1"), Routes.Calls("ap-1"),
            Routes.Call("fc-1"), Routes.Inputs("fc-1"), Routes.Outputs("fc-1"), Routes.CancelCall("fc-1"), Routes.CallStats("fc-1"), Routes.Stats("ap-1", "square"),
            Routes.Autoscaler("ap-1", "square"), Routes.Containers(), Routes.StopContainer("ct-1"), Routes.ContainerStream("ct-1"),
            Routes.ContainerLogs("ct-1"), Routes.Exec("ct-1"), Routes.WorkerSession("ss-1"), Routes.WorkerStream, Routes.Images, Routes.Tokens,
            Routes.RevokeToken("tk-1"),
        ];

        paths.Should().Equal(
            "v1/health", "v1/blobs/missing", "v1/blobs/ab12", "v1/builds", "v1/builds/bd-1", "v1/apps", "v1/apps/ap-1",
            "v1/apps/ap-1/definition", "v1/apps/ap-1/stop", "v1/apps/ap-1/logs", "v1/apps/ap-1/shell", "v1/apps/ap-1/calls",
            "v1/calls/fc-1", "v1/calls/fc-1/inputs", "v1/calls/fc-1/outputs", "v1/calls/fc-1/cancel", "v1/calls/fc-1/stats", "v1/apps/ap-1/functions/square/stats",
            "v1/apps/ap-1/functions/square/autoscaler", "v1/containers", "v1/containers/ct-1/stop", "v1/containers/ct-1/stream",
            "v1/containers/ct-1/logs", "v1/containers/ct-1/exec", "v1/workers/sessions/ss-1", "v1/workers/stream", "v1/images", "v1/tokens",
            "v1/tokens/tk-1/revoke");
    }

    [Fact]
    public void A_path_is_its_template_under_the_prefix_with_each_value_in_place()
    {
        ("/" + Routes.Stats("ap-1", "square")).Should().Be(ProtocolInfo.Prefix + Routes.Templates.Stats.Replace("{app}", "ap-1").Replace("{function}", "square"));
        ("/" + Routes.Apps).Should().Be(ProtocolInfo.Prefix + Routes.Templates.Apps);
    }

    [Fact]
    public void Every_value_is_escaped_so_it_stays_one_segment()
    {
        Routes.App("my app/../tokens").Should().Be("v1/apps/my%20app%2F..%2Ftokens");
        Routes.Stats("a?b", "Counter.Next#1").Should().Be("v1/apps/a%3Fb/functions/Counter.Next%231/stats");
        Routes.Containers("team & co").Should().Be("v1/containers?app=team%20%26%20co");
    }

    [Fact]
    public void A_long_poll_names_only_the_parameters_given()
    {
        Routes.Outputs("fc-1", 0).Should().Be("v1/calls/fc-1/outputs?after=0");
        Routes.Outputs("fc-1", 7, TimeSpan.FromSeconds(25)).Should().Be("v1/calls/fc-1/outputs?after=7&wait=25");
        Routes.Outputs("fc-1", 0, limit: 100).Should().Be("v1/calls/fc-1/outputs?after=0&limit=100");
        Routes.AppLogs("ap-1", 3, TimeSpan.Zero).Should().Be("v1/apps/ap-1/logs?after=3&wait=0");
        Routes.ContainerLogs("ct-1", long.MaxValue).Should().Be($"v1/containers/ct-1/logs?after={long.MaxValue}");
    }

    [Fact]
    public void A_fractional_wait_is_written_in_the_invariant_culture_whatever_the_current_one()
    {
        var comma = (CultureInfo)CultureInfo.InvariantCulture.Clone();
        comma.NumberFormat.NumberDecimalSeparator = ",";
        var saved = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = comma;
        try
        {
            Routes.Outputs("fc-1", 0, TimeSpan.FromMilliseconds(12_345.6)).Should().Be("v1/calls/fc-1/outputs?after=0&wait=12.346");
        }
        finally
        {
            CultureInfo.CurrentCulture = saved;
        }
    }
}
