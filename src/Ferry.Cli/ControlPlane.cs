using System.Diagnostics;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Ferry.Client;
using Ferry.Protocol;

namespace Ferry.Cli;

/// <summary>Finds the control plane: <c>--server</c>, <c>$FERRY_SERVER_URL</c>, or a local server started on demand.</summary>
internal static class ControlPlane
{
    private sealed record ServerState(string Url, int Pid, string? Build = null);

    /// <summary>Identifies this build of Ferry (every assembly the server runs), so a local server started by another build is replaced.</summary>
    private static string Build { get; } = string.Concat(
        new[] { typeof(ControlPlane), typeof(Ferry.Server.FerryServer), typeof(Ferry.Worker.WorkerAgent), typeof(App), typeof(ProtocolInfo) }
            .Select(t => t.Assembly.ManifestModule.ModuleVersionId.ToString("N")[..8]));

    /// <summary>
    /// .NET settings the local server starts with, unless the environment of the process that starts it sets them. Hot
    /// methods are recompiled optimised as soon as they have run 30 times, instead of only after 100 ms with no new
    /// method compiled: a server that has just started compiles new methods all through its first calls and maps, so
    /// it ran them as first-tier code for long. On 2 cores a fresh server's first map of 100,000 trivial inputs ran at
    /// 25,300-26,500 inputs/s with this setting and 15,600-17,300 without; the server took 0.25-0.3 s longer to start
    /// answering (<c>bench/RESULTS.md</c>). A server started by hand can take the same variable.
    /// </summary>
    internal static readonly IReadOnlyDictionary<string, string> ServerRuntimeSettings = new Dictionary<string, string>
    {
        ["DOTNET_TC_CallCountingDelayMs"] = "0",
    };

    /// <summary>Adds <see cref="ServerRuntimeSettings"/> to a server process's <paramref name="environment"/> where it does not set them.</summary>
    internal static void AddServerRuntimeSettings(IDictionary<string, string?> environment)
    {
        foreach (var (key, value) in ServerRuntimeSettings)
        {
            environment.TryAdd(key, value);
        }
    }

    public static async Task<FerryClient> ConnectAsync(string? server, bool startLocal, CancellationToken cancellationToken)
    {
        var explicitUrl = server ?? Environment.GetEnvironmentVariable(FerryEnv.ServerUrl);
        if (!string.IsNullOrEmpty(explicitUrl))
        {
            if (!Uri.TryCreate(explicitUrl, UriKind.Absolute, out var url))
            {
                throw new CliException($"'{explicitUrl}' is not a server URL; write it like http://127.0.0.1:7325.");
            }
            if (!await IsHealthyAsync(url, cancellationToken).ConfigureAwait(false))
            {
                throw new CliException($"Cannot reach the Ferry server at {url}. Is it running (`ferry server`)?"
                    + (url.Scheme == "https" && Fingerprint is null ? $" If it uses a self-signed certificate, set ${FerryEnv.ServerFingerprint} to the fingerprint it printed." : ""));
            }
            return new FerryClient(url, ReadToken(), fingerprint: Fingerprint);
        }
        if (await ReadLocalAsync(cancellationToken).ConfigureAwait(false) is { } local)
        {
            return new FerryClient(local, ReadToken());
        }
        if (!startLocal)
        {
            throw new CliException("No Ferry server is running. Start one with `ferry server`, or pass --server URL.");
        }
        var started = await StartLocalAsync(cancellationToken).ConfigureAwait(false);
        return new FerryClient(started, ReadToken());
    }

    /// <summary>True when commands given <paramref name="server"/> use the auto-started local server.</summary>
    public static bool IsLocal(string? server) => string.IsNullOrEmpty(server ?? Environment.GetEnvironmentVariable(FerryEnv.ServerUrl));

    private static string? Fingerprint => Environment.GetEnvironmentVariable(FerryEnv.ServerFingerprint) is { Length: > 0 } value ? value : null;

    /// <summary>The client token: <c>$FERRY_TOKEN</c>, else the one the local server keeps in <c>$FERRY_HOME/token</c>.</summary>
    public static string? ReadToken()
    {
        if (Environment.GetEnvironmentVariable(FerryEnv.Token) is { Length: > 0 } token)
        {
            return token.Trim();
        }
        try
        {
            return File.ReadAllText(FerryHome.TokenFile).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Gives a server the client token in <paramref name="path"/>: the one already there if the server accepts it,
    /// otherwise a new one, written readable by this user only.
    /// </summary>
    public static async Task EnsureTokenFileAsync(Ferry.Server.FerryServer server, string path, CancellationToken cancellationToken)
    {
        var existing = File.Exists(path) ? (await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false)).Trim() : "";
        if (server.AcceptsClientToken(existing))
        {
            return;
        }
        var token = await server.CreateTokenAsync("local", cancellationToken: cancellationToken).ConfigureAwait(false);
        Ferry.Server.Security.PrivateFiles.Write(path, System.Text.Encoding.ASCII.GetBytes(token + "\n"));
    }

    private static async Task<Uri?> ReadLocalAsync(CancellationToken cancellationToken)
    {
        try
        {
            var state = JsonSerializer.Deserialize<ServerState>(await File.ReadAllTextAsync(FerryHome.ServerState, cancellationToken).ConfigureAwait(false));
            // A crashed server's record is stale even when its address answers: that is its replacement starting on
            // the same port, which is ready once it has started its worker and recorded itself here.
            if (state is not null && IsRunning(state.Pid) && Uri.TryCreate(state.Url, UriKind.Absolute, out var url) && await IsHealthyAsync(url, cancellationToken).ConfigureAwait(false))
            {
                if (state.Build == Build)
                {
                    return url;
                }
                Output.Info($"Replacing the local server (pid {state.Pid}): it was started by another build of Ferry.");
                await StopProcessAsync(state.Pid, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
        }
        return null;
    }

    /// <summary>The local server's record, when one is running: its address and process id.</summary>
    public static async Task<(Uri Url, int Pid)?> FindLocalAsync(CancellationToken cancellationToken)
    {
        try
        {
            var state = JsonSerializer.Deserialize<ServerState>(await File.ReadAllTextAsync(FerryHome.ServerState, cancellationToken).ConfigureAwait(false));
            return state is not null && IsRunning(state.Pid) && Uri.TryCreate(state.Url, UriKind.Absolute, out var url) ? (url, state.Pid) : null;
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return null;
        }
    }

    /// <summary>Stops the local server with SIGTERM, which stops its containers, and waits for it to exit.</summary>
    public static Task StopLocalAsync(int pid, CancellationToken cancellationToken) => StopProcessAsync(pid, cancellationToken);

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Records a local server's address and pid in <paramref name="path"/> (the CLI passes <c>$FERRY_HOME/server.json</c>).</summary>
    public static async Task WriteLocalStateAsync(string path, Uri url, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        var temp = path + ".tmp";
        await File.WriteAllTextAsync(temp, JsonSerializer.Serialize(new ServerState(url.ToString(), Environment.ProcessId, Build)), cancellationToken).ConfigureAwait(false);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>
    /// Starts <c>ferry server</c> in the background, detached from this terminal, and waits for it to answer. Only one
    /// process may start it at a time: a lock file serializes concurrent <c>ferry run</c>s.
    /// </summary>
    private static async Task<Uri> StartLocalAsync(CancellationToken cancellationToken)
    {
        FerryHome.Prepare();
        await using var lockFile = await AcquireLockAsync(cancellationToken).ConfigureAwait(false);
        if (await ReadLocalAsync(cancellationToken).ConfigureAwait(false) is { } raced)
        {
            return raced;
        }
        var self = Environment.ProcessPath ?? "dotnet";
        var command = System.IO.Path.GetFileNameWithoutExtension(self) == "dotnet"
            ? $"'{self}' '{System.IO.Path.Combine(AppContext.BaseDirectory, typeof(ControlPlane).Assembly.GetName().Name + ".dll")}'"
            : $"'{self}'";
        var info = new ProcessStartInfo("/bin/sh")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        AddServerRuntimeSettings(info.Environment);
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add($"setsid {command} server --port {LocalPort()} --data-dir '{FerryHome.DataDir}' --state-file '{FerryHome.ServerState}' --token-file '{FerryHome.TokenFile}' >>'{FerryHome.ServerLog}' 2>&1 </dev/null &");
        using (var shell = Process.Start(info)!)
        {
            await shell.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (await ReadLocalAsync(cancellationToken).ConfigureAwait(false) is { } url)
            {
                return url;
            }
            // Polling a file another process writes: there is no cross-process signal to wait on instead.
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
        throw new CliException($"The local Ferry server did not start within 60 s; see {FerryHome.ServerLog}.");
    }

    /// <summary>
    /// The local server's port: the one it had before, so that a caller whose server crashed reaches its replacement
    /// at the same address; a new free one (recorded for next time) only when that one is taken by something else.
    /// </summary>
    private static int LocalPort()
    {
        if (File.Exists(FerryHome.PortFile)
            && int.TryParse(File.ReadAllText(FerryHome.PortFile).Trim(), System.Globalization.CultureInfo.InvariantCulture, out var recorded)
            && ListenPort.IsFree(recorded))
        {
            return recorded;
        }
        var port = ListenPort.Pick();
        File.WriteAllText(FerryHome.PortFile, port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return port;
    }

    /// <summary>
    /// Keeps the auto-started local server up while a command needs it: when its process dies without shutting down
    /// (its state file still names it), starts a replacement on the same address, which callers reconnect to. A server
    /// stopped on purpose removes its state file and is left stopped.
    /// </summary>
    public static async Task SuperviseLocalAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            ServerState? state;
            try
            {
                state = JsonSerializer.Deserialize<ServerState>(await File.ReadAllTextAsync(FerryHome.ServerState, cancellationToken).ConfigureAwait(false));
            }
            catch (Exception e) when (e is IOException or JsonException)
            {
                return;
            }
            if (state is null)
            {
                return;
            }
            try
            {
                using var process = Process.GetProcessById(state.Pid);
                await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ArgumentException)
            {
                // Already gone.
            }
            if (!File.Exists(FerryHome.ServerState) || cancellationToken.IsCancellationRequested)
            {
                return;
            }
            Output.Info($"The local server (pid {state.Pid}) stopped unexpectedly; starting it again at {state.Url}. See {FerryHome.ServerLog}.");
            await StartLocalAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task StopProcessAsync(int pid, CancellationToken cancellationToken)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            using var term = Process.Start("kill", ["-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            await term.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(40));
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (ArgumentException)
        {
            // Already gone.
        }
    }

    private static async Task<FileStream> AcquireLockAsync(CancellationToken cancellationToken)
    {
        var path = System.IO.Path.Combine(FerryHome.Root, "server.lock");
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException)
            {
                await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public static async Task<bool> IsHealthyAsync(Uri url, CancellationToken cancellationToken)
    {
        using var http = new HttpClient(Credentials.Handler(Fingerprint)) { BaseAddress = url, Timeout = TimeSpan.FromSeconds(3) };
        try
        {
            var health = await http.GetFromJsonAsync("/" + Routes.Health, ProtocolJsonContext.Default.HealthResponse, cancellationToken).ConfigureAwait(false);
            return health?.Status == "ok";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
        {
            return false;
        }
    }

    /// <summary>Uploads a build's files content-addressed (only those the server lacks) and registers the build.</summary>
    public static Task<(string BuildId, int Uploaded, long Bytes)> UploadAsync(FerryClient client, BuiltProgram program, CancellationToken cancellationToken) =>
        client.UploadBuildAsync(program.OutputDir, program.EntryAssembly, cancellationToken);
}
