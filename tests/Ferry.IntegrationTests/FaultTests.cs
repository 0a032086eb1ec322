using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FluentAssertions;
using Ferry.Cli;
using Ferry.Client;
using Ferry.Hosting;
using Ferry.Protocol;
using Ferry.Server;
using Ferry.Server.Scheduling;
using Xunit.Abstractions;

namespace Ferry.IntegrationTests;

/// <summary>
/// Kills one part of a running system with SIGKILL in the middle of a map on runc: the auto-started local server, a
/// worker process, or one container. Each time every input's result reaches the caller exactly once with the right
/// value, the caller finishes by itself, and the inputs run again are at most those in flight where the fault struck.
/// The function counts its own executions, because a map deduplicates what its caller sees.
/// </summary>
public sealed class FaultTests(RuncFixture fixture, ITestOutputHelper output) : IClassFixture<RuncFixture>
{
    /// <summary>
    /// The inputs a container of a function with MaxInputs = 1 holds at most (<see cref="ContainerState.CapacityAt"/>):
    /// the one it runs and the ones queued behind it to hide the round trip per input, up to 64 for a fast function.
    /// </summary>
    private const int HeldPerContainer = 64;

    private static readonly TimeSpan MapLimit = TimeSpan.FromMinutes(5);

    private static string CliPath => typeof(ControlPlane).Assembly.Location;

    [RuncFact]
    public async Task Killing_the_auto_started_server_mid_map_loses_and_duplicates_nothing_and_the_caller_finishes()
    {
        const int count = 100_000;
        await using var home = LocalHome.Create();
        await RuncFixture.SeedBaseImageAsync(home.WorkerDir);
        var functions = new Ferry.TestApp.TestFunctions();
        using var connect = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        using var local = await ControlPlane.ConnectAsync(server: null, startLocal: true, connect.Token);
        var first = home.ReadState();
        using var client = await CreateAppAsync(local.ServerUrl, local.Token ?? "", functions, "faults-server");
        using var stopSupervising = new CancellationTokenSource();
        var supervising = ControlPlane.SuperviseLocalAsync(stopSupervising.Token);
        await using var counter = await ExecutionCounter.StartAsync(count);
        FerryContext.Override = client;
        try
        {
            var killedAt = DateTime.UtcNow;
            var run = await RunCountedMapAsync(functions, counter, count, faultAt: 0.2, () =>
            {
                using var server = Process.GetProcessById(first.Pid);
                killedAt = DateTime.UtcNow;
                server.Kill();
                return Task.CompletedTask;
            });

            var replacement = home.ReadState();
            replacement.Url.Should().Be(first.Url, "the replacement listens where callers already connect");
            replacement.Pid.Should().NotBe(first.Pid);
            output.WriteLine($"the replacement recorded itself {(File.GetLastWriteTimeUtc(FerryHome.ServerState) - killedAt).TotalSeconds:0.0} s after the kill");
            // Only an input the server had and whose result the caller had not received can have run before the kill.
            var inFlight = run.SentAtFault - run.ReceivedAtFault;
            Report(run, counter, $"inputs in flight at the kill (sent {run.SentAtFault} - received {run.ReceivedAtFault}): {inFlight}");
            run.ReceivedAtFault.Should().BeLessThan(run.SentAtFault);
            run.SentAtFault.Should().BeLessThan(count, "the kill must land while inputs are still being sent");
            AssertExactlyOnce(run, count);
            AssertReexecutionsWithin(counter, inFlight);
            (await home.StopServersAsync()).Should().Be(0, "a local server stopped with SIGTERM stops its containers");
        }
        finally
        {
            FerryContext.Override = null;
            await stopSupervising.CancelAsync();
            await IgnoreCancellationAsync(supervising);
            output.WriteLine($"--- end of the local server's log{Environment.NewLine}{home.LogTail()}");
        }
    }

    [RuncFact]
    public async Task Killing_a_worker_mid_map_loses_and_duplicates_nothing_and_the_caller_finishes()
    {
        const int count = 10_000;
        const int maxContainers = 4;
        var root = Path.Combine(Path.GetTempPath(), "ferry-faults-" + Guid.NewGuid().ToString("N")[..8]);
        var workerDir = Path.Combine(root, "worker");
        await RuncFixture.SeedBaseImageAsync(workerDir);
        var functions = new Ferry.TestApp.TestFunctions();
        var workers = new List<WorkerProcess>();
        using var setup = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var server = await FerryServer.StartAsync(new ServerOptions { DataDir = Path.Combine(root, "server"), Port = 0 }, setup.Token);
        try
        {
            var joinToken = await server.CreateTokenAsync("fault-worker", TokenKinds.Worker, cancellationToken: setup.Token);
            string[] workerArgs = [CliPath, "worker", "--server-url", server.Url.ToString(), "--token", joinToken, "--data-dir", workerDir,
                "--runtime", "runc", "--max-containers", maxContainers.ToString(CultureInfo.InvariantCulture)];
            workers.Add(WorkerProcess.Start(workerArgs));
            await server.WaitForWorkersAsync(1, setup.Token);
            using var client = await CreateAppAsync(server.Url, await server.CreateTokenAsync("faults", cancellationToken: setup.Token), functions, "faults-worker");
            await using var counter = await ExecutionCounter.StartAsync(count);
            FerryContext.Override = client;

            var run = await RunCountedMapAsync(functions, counter, count, faultAt: 0.2, async () =>
            {
                await workers[0].KillAsync();
                // Same data dir and join token: it removes what the killed one left and registers under its id once the
                // server has dropped the old connection.
                workers.Add(WorkerProcess.Start(workerArgs));
            });

            // Every input the killed worker's containers held may have run there and runs again: at most this many.
            var held = maxContainers * HeldPerContainer;
            Report(run, counter, $"inputs the killed worker's containers could hold: {held}");
            AssertExactlyOnce(run, count);
            AssertReexecutionsWithin(counter, held);
            await workers[^1].StopAsync();
            (await RuncFixture.RemoveOrphansAsync(workerDir)).Should().Be(0, "a worker stopped with SIGTERM stops its containers");
        }
        finally
        {
            FerryContext.Override = null;
            foreach (var worker in workers)
            {
                await worker.StopAsync();
                output.WriteLine($"--- worker output{Environment.NewLine}{worker}");
            }
            await RuncFixture.RemoveOrphansAsync(workerDir);
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    [RuncFact]
    public async Task Killing_a_container_mid_map_loses_and_duplicates_nothing_and_the_worker_keeps_serving()
    {
        const int count = 5_000;
        var appId = await fixture.NewAppAsync();
        await using var counter = await ExecutionCounter.StartAsync(count);
        string? victim = null;

        var run = await RunCountedMapAsync(fixture.Functions, counter, count, faultAt: 0.2, async () =>
        {
            await fixture.WaitUntilAsync(() => (victim = fixture.Pool(appId, "counted").Containers.Values
                .FirstOrDefault(c => c.Status == ContainerStatus.Ready && c.Running.Count > 0)?.Id) is not null);
            using var process = Process.GetProcessById(await ContainerPidAsync(fixture.WorkerDataDir, victim!));
            process.Kill();
            await fixture.WaitUntilAsync(() => !fixture.Pool(appId, "counted").Containers.ContainsKey(victim!));
        });

        Report(run, counter, $"inputs the killed container {victim} could hold: {HeldPerContainer}");
        AssertExactlyOnce(run, count);
        AssertReexecutionsWithin(counter, HeldPerContainer);
        var exit = await fixture.WaitForLogAsync(appId, e => e.ContainerId == victim && e.Text.StartsWith("Container exited", StringComparison.Ordinal));
        exit.Text.Should().StartWith("Container exited (crash): exit code 137");
        (await fixture.Functions.Square.RemoteAsync(12).WaitAsync(TimeSpan.FromSeconds(60))).Should().Be(144, "the worker keeps serving");
    }

    /// <summary>What a counted map returned, and where it stood when the fault struck.</summary>
    private sealed record MapRun(IReadOnlyList<Outcome<int>> Outcomes, int SentAtFault, int ReceivedAtFault, TimeSpan Elapsed);

    /// <summary>
    /// Maps <c>counted</c> over 0 to <paramref name="count"/> - 1 and runs <paramref name="fault"/> once the caller has
    /// received <paramref name="faultAt"/> of the results; returns once the map has finished by itself.
    /// </summary>
    private static async Task<MapRun> RunCountedMapAsync(Ferry.TestApp.TestFunctions functions, ExecutionCounter counter, int count, double faultAt, Func<Task> fault)
    {
        var taken = 0;
        var inputs = Enumerable.Range(0, count).Select(i =>
        {
            Interlocked.Increment(ref taken);
            return (counter.Url, i);
        });
        var outcomes = new List<Outcome<int>>(count);
        var threshold = (int)(count * faultAt);
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var clock = Stopwatch.StartNew();
        var mapping = Task.Run(async () =>
        {
            await foreach (var outcome in functions.Counted.StarMapOutcomesAsync(inputs, orderOutputs: false))
            {
                lock (outcomes)
                {
                    outcomes.Add(outcome);
                    if (outcomes.Count == threshold)
                    {
                        reached.TrySetResult();
                    }
                }
            }
        });
        await Task.WhenAny(reached.Task, mapping).WaitAsync(MapLimit);
        reached.Task.IsCompleted.Should().BeTrue("the fault must strike in the middle of the map");
        int received;
        lock (outcomes)
        {
            received = outcomes.Count;
        }
        await fault();
        // Read after the fault: what the SDK has taken from the inputs bounds what the server could have had at the fault.
        var sent = Volatile.Read(ref taken);
        await mapping.WaitAsync(MapLimit);
        return new MapRun(outcomes, sent, received, clock.Elapsed);
    }

    private static void AssertExactlyOnce(MapRun run, int count)
    {
        run.Outcomes.Where(o => !o.IsSuccess).Select(o => $"{o.Index}: {o.Exception!.Message}").Should().BeEmpty();
        run.Outcomes.Count.Should().Be(count);
        run.Outcomes.Select(o => o.Index).Should().OnlyHaveUniqueItems();
        run.Outcomes.Where(o => o.Value != o.Index * 2).Select(o => o.Index).Should().BeEmpty("every result is its own input's");
    }

    /// <summary>Every input ran, none more than twice, and the runs beyond the first are within <paramref name="bound"/>.</summary>
    private static void AssertReexecutionsWithin(ExecutionCounter counter, int bound)
    {
        var counts = counter.Snapshot();
        counts.Select((n, i) => (n, i)).Where(p => p.n == 0).Select(p => p.i).Should().BeEmpty("every input ran");
        counts.Max().Should().BeLessThanOrEqualTo(2, "one fault gives an input at most one more run");
        counts.Sum(n => n - 1).Should().BeLessThanOrEqualTo(bound);
    }

    private void Report(MapRun run, ExecutionCounter counter, string bound)
    {
        var counts = counter.Snapshot();
        output.WriteLine($"map of {counts.Length} inputs finished in {run.Elapsed.TotalSeconds:0.0} s; fault at {run.ReceivedAtFault} results received, {run.SentAtFault} inputs taken");
        output.WriteLine($"executions {counter.Total}, re-executions {counts.Sum(n => n - 1)}, inputs run twice {counts.Count(n => n == 2)}; {bound}");
    }

    /// <summary>Uploads the test app's build, creates an app and publishes its functions; returns a client of that app.</summary>
    private static async Task<FerryClient> CreateAppAsync(Uri url, string token, Ferry.TestApp.TestFunctions functions, string name)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var admin = new FerryClient(url, token);
        var (buildId, _, _) = await ControlPlane.UploadAsync(admin, new BuiltProgram(ServerFixture.TestAppBuildDir, "Ferry.TestApp.dll", name, false), timeout.Token);
        var app = await admin.SendAsync(HttpMethod.Post, Routes.Apps, new CreateAppRequest(name, buildId),
            ProtocolJsonContext.Default.CreateAppRequest, ProtocolJsonContext.Default.CreateAppResponse, timeout.Token);
        var client = new FerryClient(url, token) { AppId = app.AppId };
        await client.PublishDefinitionAsync(functions.App.ToDefinition(), timeout.Token);
        return client;
    }

    /// <summary>The host pid of a runc container's process, from <c>runc state</c>.</summary>
    private static async Task<int> ContainerPidAsync(string workerDir, string containerId)
    {
        var (code, text) = await RunAsync("runc", "--root", Path.Combine(workerDir, "runc-state"), "state", containerId);
        code.Should().Be(0, text);
        using var state = JsonDocument.Parse(text);
        return state.RootElement.GetProperty("pid").GetInt32();
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    private static async Task IgnoreCancellationAsync(Task task)
    {
        try
        {
            await task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>A <c>ferry worker</c> process, its output kept for when a test fails.</summary>
    private sealed class WorkerProcess
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();
        private bool _stopped;

        private WorkerProcess(Process process) => _process = process;

        public static WorkerProcess Start(string[] args)
        {
            var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in args)
            {
                info.ArgumentList.Add(arg);
            }
            var worker = new WorkerProcess(new Process { StartInfo = info });
            worker._process.OutputDataReceived += (_, e) => worker.Append(e.Data);
            worker._process.ErrorDataReceived += (_, e) => worker.Append(e.Data);
            worker._process.Start();
            worker._process.BeginOutputReadLine();
            worker._process.BeginErrorReadLine();
            return worker;
        }

        private void Append(string? line)
        {
            if (line is not null)
            {
                lock (_output)
                {
                    _output.AppendLine(line);
                }
            }
        }

        /// <summary>SIGKILL to the worker alone: its containers are left running, as after a crash.</summary>
        public async Task KillAsync()
        {
            _process.Kill();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }

        /// <summary>SIGTERM, so it stops its containers, then SIGKILL if it has not exited within a minute.</summary>
        public async Task StopAsync()
        {
            if (_stopped)
            {
                return;
            }
            _stopped = true;
            if (!_process.HasExited)
            {
                await RunAsync("kill", "-TERM", _process.Id.ToString(CultureInfo.InvariantCulture));
                try
                {
                    await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
                }
                catch (TimeoutException)
                {
                    _process.Kill(entireProcessTree: true);
                }
            }
            _process.Dispose();
        }

        public override string ToString()
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }
}
