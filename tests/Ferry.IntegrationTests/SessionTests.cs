using System.Net.WebSockets;
using System.Text;
using FluentAssertions;
using Ferry.Protocol;

namespace Ferry.IntegrationTests;

/// <summary><c>ferry container exec</c>, <c>ferry shell</c> and <c>ferry container logs</c> against a runc worker.</summary>
public sealed class SessionTests(RuncFixture fixture) : IClassFixture<RuncFixture>
{
    private readonly Ferry.TestApp.TestFunctions _f = fixture.Functions;

    internal static string Args(params string[] command) => string.Join('&', command.Select(a => "arg=" + Uri.EscapeDataString(a)));

    [RuncFact]
    public async Task Exec_runs_a_command_inside_a_running_container_with_its_input_and_exit_code()
    {
        var appId = await fixture.NewAppAsync();
        var call = await _f.Sleep.SpawnAsync(30_000);
        var pool = fixture.Pool(appId, "sleep");
        await fixture.WaitUntilAsync(() => pool.RunningInputs == 1 && pool.Containers.Values.All(c => c.Status == Ferry.Server.Scheduling.ContainerStatus.Ready));
        var containerId = pool.Containers.Keys.Single();

        var pid1 = await SessionClient.RunAsync(fixture, $"{Routes.Exec(containerId)}?{Args("cat", "/proc/1/cmdline")}");
        var interactive = await SessionClient.RunAsync(fixture, $"{Routes.Exec(containerId)}?{Args("sh", "-c", "read name; echo hello $name; echo oops >&2; exit 7")}", "ferry\n");
        var missing = await SessionClient.RunAsync(fixture, $"{Routes.Exec(containerId)}?{Args("nosuchtool", "--version")}");
        var missingPath = await SessionClient.RunAsync(fixture, $"{Routes.Exec(containerId)}?{Args("/opt/tool/run")}");
        await call.CancelAsync();

        pid1.Stdout.Should().StartWith("dotnet\0/app/Ferry.TestApp.dll", "the command runs in the container's PID namespace, where the function is PID 1");
        pid1.ExitCode.Should().Be(0);
        interactive.Should().Be(new SessionClient.Result("hello ferry\n", "oops\n", 7));
        missing.Should().Be(new SessionClient.Result("",
            "The container has no command 'nosuchtool' in its PATH (/usr/share/dotnet:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin). Install it in the image, for example with .AptInstall(...), or give its full path.\n", 125));
        missingPath.Should().Be(new SessionClient.Result("", "The container has no file '/opt/tool/run'.\n", 125));
    }

    [RuncFact]
    public async Task Exec_into_an_unknown_container_says_so()
    {
        await fixture.NewAppAsync();

        var result = await SessionClient.RunAsync(fixture, $"{Routes.Exec("ct-nosuch")}?{Args("true")}");

        result.Should().Be(new SessionClient.Result("", "No running container has the id 'ct-nosuch'. See `ferry container list`.\n", 125));
    }

    [RuncFact]
    public async Task A_shell_runs_in_a_new_container_with_the_functions_image_outside_its_pool()
    {
        var appId = await fixture.NewAppAsync();

        var result = await SessionClient.RunAsync(fixture, $"{Routes.Shell(appId)}?function=jq&{Args("/bin/sh", "-c", "jq --version && hostname")}");
        var missing = await SessionClient.RunAsync(fixture, $"{Routes.Shell(appId)}?function=nope&{Args("true")}");

        result.ExitCode.Should().Be(0);
        result.Stdout.Should().MatchRegex("^jq-1\\.6\nsh-[0-9a-f]{16}\n$");
        fixture.Scheduler.ListContainers(appId).Should().NotContain(c => c.Function == "jq", "a shell takes no inputs and is not part of the function's pool");
        missing.ExitCode.Should().Be(125);
        missing.Stderr.Should().StartWith("The app has no function 'nope'. Functions: ");
    }

    [RuncFact]
    public async Task Container_logs_hold_one_containers_lines_after_it_has_gone()
    {
        var appId = await fixture.NewAppAsync();
        await _f.Print.RemoteAsync("first");
        var containerId = fixture.Pool(appId, "print").Containers.Keys.Single();
        await fixture.NewAppAsync();

        var lines = await fixture.ContainerLogsAsync(containerId);

        lines.Select(l => l.Text).Should().Contain(["out: first", "err: first"]);
        lines.Should().OnlyContain(l => l.ContainerId == containerId);
    }
}

/// <summary>A test's end of a session socket: sends stdin, then end of input, and collects every frame.</summary>
internal static class SessionClient
{
    public sealed record Result(string Stdout, string Stderr, int ExitCode);

    /// <summary>Opens a session socket, sends <paramref name="stdin"/> and then end of input, and collects every frame.</summary>
    public static async Task<Result> RunAsync(ServerFixture fixture, string path, string stdin = "")
    {
        var server = fixture.Url;
        using var socket = new ClientWebSocket();
        Credentials.Apply(socket.Options, fixture.AdminToken, null);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await socket.ConnectAsync(new Uri($"ws://{server.Authority}/{path}"), timeout.Token);
        if (stdin.Length > 0)
        {
            await socket.SendAsync((byte[])[SessionFrames.Stdin, .. Encoding.UTF8.GetBytes(stdin)], WebSocketMessageType.Binary, true, timeout.Token);
        }
        await socket.SendAsync(new[] { SessionFrames.StdinClosed }, WebSocketMessageType.Binary, true, timeout.Token);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer, timeout.Token);
            result.MessageType.Should().NotBe(WebSocketMessageType.Close, "the session sends the exit code before it closes");
            result.EndOfMessage.Should().BeTrue();
            var text = Encoding.UTF8.GetString(buffer, 1, result.Count - 1);
            switch (buffer[0])
            {
                case SessionFrames.Stdout:
                    stdout.Append(text);
                    break;
                case SessionFrames.Stderr:
                    stderr.Append(text);
                    break;
                case SessionFrames.Exit:
                    return new Result(stdout.ToString(), stderr.ToString(), int.Parse(text, System.Globalization.CultureInfo.InvariantCulture));
            }
        }
    }
}
