using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Ferry.Cli;
using Ferry.Protocol;

namespace Ferry.IntegrationTests;

/// <summary>
/// A FERRY_HOME of a test's own, for the CLI's code in this process and for the local server it starts, which reads
/// FERRY_HOME from its environment. Disposing stops every local server it has seen with SIGTERM, removes what their
/// workers left, and puts FERRY_HOME and the variables that would point the CLI elsewhere back as they were.
/// </summary>
internal sealed class LocalHome : IAsyncDisposable
{
    private static readonly string[] Cleared = ["FERRY_HOME", FerryEnv.ServerUrl, FerryEnv.Token, FerryEnv.ServerFingerprint];
    private readonly string _previousRoot = FerryHome.Root;
    private readonly Dictionary<string, string?> _previousEnvironment = [];
    private readonly HashSet<int> _pids = [];

    private LocalHome(string root) => Root = root;

    public string Root { get; }

    /// <summary>The data dir of the local server's worker.</summary>
    public string WorkerDir => Path.Combine(Root, "data", "worker");

    public static LocalHome Create()
    {
        var home = new LocalHome(Path.Combine(Path.GetTempPath(), "ferry-home-" + Guid.NewGuid().ToString("N")[..8]));
        foreach (var name in Cleared)
        {
            home._previousEnvironment[name] = Environment.GetEnvironmentVariable(name);
            Environment.SetEnvironmentVariable(name, null);
        }
        Environment.SetEnvironmentVariable("FERRY_HOME", home.Root);
        FerryHome.Root = home.Root;
        return home;
    }

    /// <summary>The local server's address and process, as it recorded them in <c>server.json</c>.</summary>
    public (Uri Url, int Pid) ReadState()
    {
        using var state = JsonDocument.Parse(File.ReadAllText(FerryHome.ServerState));
        var pid = state.RootElement.GetProperty("Pid").GetInt32();
        _pids.Add(pid);
        return (new Uri(state.RootElement.GetProperty("Url").GetString()!), pid);
    }

    /// <summary>Rewrites the recorded process id, leaving the rest of the record as it is.</summary>
    public void RecordPid(int pid)
    {
        var state = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(FerryHome.ServerState))!;
        state["Pid"] = pid;
        File.WriteAllText(FerryHome.ServerState, state.ToJsonString());
    }

    /// <summary>The last lines the local server logged.</summary>
    public string LogTail() =>
        File.Exists(FerryHome.ServerLog) ? string.Join(Environment.NewLine, File.ReadLines(FerryHome.ServerLog).TakeLast(40)) : "";

    /// <summary>
    /// Stops every local server seen here with SIGTERM and waits for each to exit, then removes what their workers left
    /// in runc; returns how many containers that was.
    /// </summary>
    public async Task<int> StopServersAsync()
    {
        if (File.Exists(FerryHome.ServerState))
        {
            ReadState();
        }
        foreach (var pid in _pids.Where(p => p != Environment.ProcessId))
        {
            await StopAsync(pid);
        }
        _pids.Clear();
        return await RuncFixture.RemoveOrphansAsync(WorkerDir);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopServersAsync();
        }
        finally
        {
            FerryHome.Root = _previousRoot;
            foreach (var (name, value) in _previousEnvironment)
            {
                Environment.SetEnvironmentVariable(name, value);
            }
            try
            {
                Directory.Delete(Root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>SIGTERM, so the server stops its containers; SIGKILL to its whole process group if it does not exit.</summary>
    private static async Task StopAsync(int pid)
    {
        Process process;
        try
        {
            process = Process.GetProcessById(pid);
        }
        catch (ArgumentException)
        {
            return;
        }
        using (process)
        {
            await SignalAsync("-TERM", pid.ToString(CultureInfo.InvariantCulture));
            try
            {
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            }
            catch (TimeoutException)
            {
                // `ferry server` is started with setsid: its process group is its own.
                await SignalAsync("-KILL", "-" + pid.ToString(CultureInfo.InvariantCulture));
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
        }
    }

    private static async Task SignalAsync(string signal, string target)
    {
        using var kill = Process.Start("kill", [signal, "--", target]);
        await kill.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }
}
