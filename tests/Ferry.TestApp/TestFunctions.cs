using Ferry;

namespace Ferry.TestApp;

/// <summary>The functions the integration tests call. Each is small and does one observable thing.</summary>
public sealed class TestFunctions
{
    /// <param name="connection">The server to run the app on from code; null for the environment's.</param>
    /// <summary>The functions that use Secrets, Dicts and Queues.</summary>
    public ObjectFunctions Objects { get; }

    /// <summary>The functions that report what user code sees of its container.</summary>
    public PlaceholderFunctions Placeholders { get; }

    /// <summary>The functions that mount a volume.</summary>
    public VolumeFunctions Volumes { get; }

    public TestFunctions(FerryConnection? connection = null)
    {
        App = new App("ferry-tests", connection: connection);
        Objects = new ObjectFunctions(App);
        Placeholders = new PlaceholderFunctions(App);
        Volumes = new VolumeFunctions(App);
        Square = App.Function<int, int>(SquareOf, name: "square");
        // Tiered compilation off in its containers, as docs/autoscaling.md suggests for maps of many tiny inputs.
        SquareUntiered = App.Function<int, int>(SquareOf, new FunctionOptions { Secrets = [Secret.FromDictionary(new Dictionary<string, string?> { ["DOTNET_TieredCompilation"] = "0" })] }, name: "square_untiered");
        Add = App.Function<int, int, int>((a, b) => a + b, name: "add");
        Echo = App.Function<byte[], byte[]>(data => data, name: "echo");
        Record = App.Function<Point, Point>(p => p with { X = p.X * 2, Tags = [.. p.Tags, "seen"] }, name: "record");
        Fail = App.Function<string, int>(Throw, name: "fail");
        FailNested = App.Function<string, int>(ThrowNested, name: "fail_nested");
        FailMany = App.Function<string, int>(ThrowMany, name: "fail_many");
        Sleep = App.Function<int, string>(SleepAsync, name: "sleep");
        Slow = App.Function<int, string>(SleepAsync, new FunctionOptions { Timeout = TimeSpan.FromSeconds(1) }, name: "slow");
        Flaky = App.Function<string, int, int>(FlakyAsync, new FunctionOptions { Retries = new Retries(3) { InitialDelay = TimeSpan.FromMilliseconds(300), BackoffCoefficient = 2 } }, name: "flaky");
        CrashOnce = App.Function<string, string>(CrashOnceImpl, name: "crash_once");
        AlwaysCrash = App.Function<int, int>(_ => { Environment.Exit(13); return 0; }, name: "always_crash");
        Burst = App.Function<int, string>(SleepAsync, new FunctionOptions { MaxContainers = 2 }, name: "burst");
        Idle = App.Function<int, string>(SleepAsync, new FunctionOptions { ScaledownWindow = TimeSpan.FromSeconds(60) }, name: "idle");
        Warm = App.Function<int, string>(SleepAsync, new FunctionOptions { MinContainers = 1, ScaledownWindow = TimeSpan.FromSeconds(1) }, name: "warm");
        Print = App.Function<string, int>(PrintLines, name: "print");
        Lengths = App.BatchedFunction<string, string>(items => [.. items.Select(i => $"{i}/{items.Count}")], maxBatchSize: 3, wait: TimeSpan.FromMilliseconds(500), new FunctionOptions { MaxContainers = 1 }, name: "lengths");
        HostFileVisible = App.Function<string, bool>(File.Exists, name: "host_file_visible");
        Allocate = App.Function<int, int>(AllocateNative, new FunctionOptions { Memory = 128 }, name: "allocate");
        Burn = App.Function<int, double>(BurnCpu, new FunctionOptions { Cpu = 0.5 }, name: "burn");
        GpuHold = App.Function<int, string>(HoldGpuAsync, new FunctionOptions { Gpu = "A10G" }, name: "gpu_hold");
        Jq = App.Function<string, string>(RunJq, new FunctionOptions { Image = Image.DebianSlim().AptInstall("jq"), MaxContainers = 2 }, name: "jq");
        var testData = Path.Combine(AppContext.BaseDirectory, "testdata");
        ImageFiles = App.Function<string>(DescribeImage, new FunctionOptions
        {
            Image = Image.DebianSlim()
                .AddLocalFile(Path.Combine(testData, "copied.txt"), "/data/copied.txt", copy: true)
                .Env("IMAGE_VAR", "set by the image")
                .RunCommands("cat /data/copied.txt > /data/from-build.txt", "echo \"$IMAGE_VAR\" >> /data/from-build.txt")
                .Workdir("/srv/work")
                .RunFunction(WriteBuildMarker)
                .AddLocalDir(Path.Combine(testData, "dir"), "/mnt/data"),
        }, name: "image_files");
        Forced = App.Function<string>(() => File.ReadAllText("/stamp").Trim(), new FunctionOptions
        {
            Image = Image.DebianSlim().RunCommands(["cat /proc/sys/kernel/random/uuid > /stamp"], forceBuild: true),
        }, name: "forced");
        FailingBuild = App.Function<int, int>(x => x, new FunctionOptions { Image = Image.DebianSlim().RunFunction(ThrowAtBuild) }, name: "failing_build");
        MissingPackage = App.Function<int, int>(x => x, new FunctionOptions { Image = Image.DebianSlim().AptInstall("ferry-no-such-package") }, name: "missing_package");
        ProbeApi = App.Function<string[], string[]>(ProbeApiAsync, name: "probe_api");
        ConnectTo = App.Function<string, string>(ConnectAsync, name: "connect_to");
        HttpGet = App.Function<string, string>(HttpGetAsync, name: "http_get");
        Counted = App.Function<string, int, int>(CountedAsync, name: "counted");
        Listen = App.Function<string>(StartListener, new FunctionOptions { ScaledownWindow = TimeSpan.FromMinutes(2) }, name: "listen");
        Shell = App.Function<string, string>(RunShell, name: "shell");
        ServerUrl = App.Function<string>(() => Environment.GetEnvironmentVariable("FERRY_SERVER_URL") ?? "", name: "server_url");
        BuildSandbox = App.Function<string>(DescribeBuildSandbox, new FunctionOptions
        {
            Image = Image.DebianSlim().RunCommands(
                "awk '$2 == \"00000000\" { print $3 }' /proc/net/route > /build-gateway",
                "unshare -U true 2> /build-unshare || true"),
        }, name: "build_sandbox");
        Snapshotted = App.Cls<Snapshotted>(new FunctionOptions { EnableMemorySnapshot = true });
        Counter = App.Cls<Counter>(new FunctionOptions { ScaledownWindow = TimeSpan.FromSeconds(2) });
        Greeter = App.Cls<Greeter>();
        DeployedVersion = App.Function(Ferry.TestApp.Greeter.BuildVersion, name: "deployed_version");
        LookupFromContainer = App.Function<string, string>(CallDeployedAsync, name: "lookup_from_container");
        Embedder = App.Cls<Embedder>(new FunctionOptions { MaxContainers = 1 });
        ShortBatch = App.Cls<ShortBatch>(new FunctionOptions { MaxContainers = 1 });
        WaitForCancel = App.Function<string, string, string>(WaitForCancelAsync, new FunctionOptions { MaxContainers = 1, MaxInputs = 1 }, name: "wait_for_cancel");
        Waiter = App.Cls<Waiter>(new FunctionOptions { MaxContainers = 1, MaxInputs = 1 });

        // Registered without type arguments: Ferry.Generators writes the overloads these calls bind to.
        ImageTool = App.Cls<ImageTool>();
        Ten = App.Function(DescribeTen);
        WriteText = App.Function(WriteTextTo);
        AppendLine = App.Function(AppendLineAsync);
        WriteRepeated = App.Function(WriteRepeatedAsync);

        Ticks = App.Function(GeneratorFunctions.Ticks, name: "ticks");
        GatedTicks = App.Function(GeneratorFunctions.GatedTicks, name: "gated_ticks");
        TicksThenWait = App.Function(GeneratorFunctions.TicksThenWait, name: "ticks_then_wait");
        FailAfter = App.Function(GeneratorFunctions.FailAfter, new FunctionOptions { Retries = new Retries(2) }, name: "fail_after");
        CountedTicks = App.Function(GeneratorFunctions.CountedTicks, name: "counted_ticks");
        Streamer = App.Cls<Streamer>();
        BrokenModel = App.Cls<BrokenModel>();
        WebFunctions.Register(App);
    }

    /// <summary>A class with the seed's image methods: a five-argument crop and a save that returns nothing.</summary>
    public Cls<ImageTool> ImageTool { get; }

    /// <summary>A function of ten arguments of assorted types; it spells each one out, in order.</summary>
    public Function<int, long, double, bool, string, char, byte[], List<int>, Point, string?, string> Ten { get; }

    /// <summary>Writes text to a file; returns nothing (void).</summary>
    public Function<string, string, None> WriteText { get; }

    /// <summary>Appends a line to a file; returns a Task.</summary>
    public Function<string, string, None> AppendLine { get; }

    /// <summary>Writes a word <c>count</c> times to a file; returns a ValueTask and takes a cancellation token.</summary>
    public Function<string, string, int, None> WriteRepeated { get; }

    public static string DescribeTen(int a, long b, double c, bool d, string e, char f, byte[] g, List<int> h, Point i, string? j) =>
        string.Join("|", a, b, c.ToString(System.Globalization.CultureInfo.InvariantCulture), d, e, f, Convert.ToHexString(g), string.Join(",", h), $"{i.X},{i.Y},{string.Join("+", i.Tags)}", j ?? "null");

    public static void WriteTextTo(string path, string text) => File.WriteAllText(path, text);

    public static async Task AppendLineAsync(string path, string line) => await File.AppendAllTextAsync(path, line + "\n");

    public static async ValueTask WriteRepeatedAsync(string path, string word, int count, CancellationToken cancellationToken) =>
        await File.WriteAllTextAsync(path, string.Concat(Enumerable.Repeat(word, count)), cancellationToken);


    /// <summary>A generator of 0 to n - 1.</summary>
    public Function<int, IAsyncEnumerable<int>> Ticks { get; }

    /// <summary>A generator that yields its first item, then waits for a gate to close before the rest.</summary>
    public Function<int, string, IAsyncEnumerable<int>> GatedTicks { get; }

    /// <summary>A generator that yields three items, then waits for its token, printing when it is cancelled.</summary>
    public Function<string, IAsyncEnumerable<int>> TicksThenWait { get; }

    /// <summary>A generator that counts its execution and throws after n items; it has retries, which a generator never uses.</summary>
    public Function<string, int, string, IAsyncEnumerable<int>> FailAfter { get; }

    /// <summary>A generator that reports each item to a counter before yielding it.</summary>
    public Function<string, int, IAsyncEnumerable<int>> CountedTicks { get; }

    /// <summary>A class with a generator method.</summary>
    public Cls<Streamer> Streamer { get; }

    /// <summary>A class whose enter hook always throws, from a helper of its own.</summary>
    public Cls<BrokenModel> BrokenModel { get; }

    /// <summary>
    /// With a tag, prints <c>waiting TAG</c>, waits for its cancellation token and prints <c>cancelled TAG</c>. With a
    /// hold endpoint (<c>host:port</c>) too, it then keeps running until the endpoint closes its connection, and returns
    /// as if it had not been cancelled. Without a tag it returns its container id at once.
    /// </summary>
    public Function<string, string, string> WaitForCancel { get; }

    /// <summary>A class whose method waits for its cancellation token, as <see cref="WaitForCancel"/> does.</summary>
    public Cls<Waiter> Waiter { get; }

    public Cls<Counter> Counter { get; }

    /// <summary>A class the deployment tests call by name from another program.</summary>
    public Cls<Greeter> Greeter { get; }

    /// <summary>Calls the <c>deployed_version</c> function of another app by name, from inside a container.</summary>
    public Function<string, string> LookupFromContainer { get; }

    private static async Task<string> CallDeployedAsync(string appName)
    {
        var version = await Function.FromNameAsync<Function<string>>(appName, "deployed_version");
        return await version.RemoteAsync();
    }

    /// <summary>The <c>deploy-version.txt</c> of the build the container runs: tells two deployed builds apart.</summary>
    public Function<string> DeployedVersion { get; }

    /// <summary>Opens a TCP connection to <c>host:port</c>: <c>connected</c>, or <c>failed: </c> and the socket error.</summary>
    public Function<string, string> ConnectTo { get; }

    /// <summary>GETs a URL and returns the body, or <c>failed: </c> and the reason.</summary>
    public Function<string, string> HttpGet { get; }

    /// <summary>
    /// Reports the execution of an index to a counter (a POST to the counter's URL followed by the index), then returns
    /// the index times two. Fault tests count executions with it, because a map hides re-executions from its caller.
    /// </summary>
    public Function<string, int, int> Counted { get; }

    /// <summary>Starts a TCP server in its container that greets and closes; returns its <c>address:port</c> on eth0.</summary>
    public Function<string> Listen { get; }

    /// <summary>Runs a shell command: <c>exit N: </c> and what it printed.</summary>
    public Function<string, string> Shell { get; }

    /// <summary>The control plane URL the container was given.</summary>
    public Function<string> ServerUrl { get; }

    /// <summary>What an image's build step saw: its default gateway and what <c>unshare -U</c> said.</summary>
    public Function<string> BuildSandbox { get; }

    /// <summary>A class that asks for memory snapshots, with a snap and a regular enter hook.</summary>
    public Cls<Snapshotted> Snapshotted { get; }

    /// <summary>Runs <c>jq -c</c> with a filter over a fixed document, in an image with jq installed.</summary>
    public Function<string, string> Jq { get; }

    /// <summary>Reports what the image's steps left: copied and mounted files, env, workdir and a build function's output.</summary>
    public Function<string> ImageFiles { get; }

    /// <summary>Reads a stamp that a force-built step writes: it changes with every app.</summary>
    public Function<string> Forced { get; }

    /// <summary>A function whose image's build function throws.</summary>
    public Function<int, int> FailingBuild { get; }

    /// <summary>A function whose image asks apt for a package that does not exist.</summary>
    public Function<int, int> MissingPackage { get; }

    /// <summary>
    /// Sends each request (<c>METHOD PATH</c>, or <c>anonymous METHOD PATH</c> for one without a token) to the control
    /// plane with the container's own token, as hostile user code would, and returns each response's status code.
    /// </summary>
    public Function<string[], string[]> ProbeApi { get; }

    /// <summary>Whether a path exists where the function runs.</summary>
    public Function<string, bool> HostFileVisible { get; }

    /// <summary>Allocates and touches native memory past its 128 MiB limit.</summary>
    public Function<int, int> Allocate { get; }

    /// <summary>Spins for the given milliseconds with Cpu = 0.5 and returns CPU time over wall time.</summary>
    public Function<int, double> Burn { get; }

    /// <summary>Holds one A10G for the given milliseconds and returns the devices it saw and its container.</summary>
    public Function<int, string> GpuHold { get; }

    public Cls<Embedder> Embedder { get; }

    public Cls<ShortBatch> ShortBatch { get; }

    public App App { get; }

    public Function<int, int> Square { get; }

    /// <summary>As <see cref="Square"/>, with the runtime's tiered compilation off in its containers.</summary>
    public Function<int, int> SquareUntiered { get; }

    public Function<int, int, int> Add { get; }

    public Function<byte[], byte[]> Echo { get; }

    public Function<Point, Point> Record { get; }

    public Function<string, int> Fail { get; }

    /// <summary>Throws an exception wrapping an HttpRequestException wrapping an IOException with the given message.</summary>
    public Function<string, int> FailNested { get; }

    /// <summary>Throws an AggregateException of a FileNotFoundException (wrapping an IOException) and a TimeoutException.</summary>
    public Function<string, int> FailMany { get; }

    /// <summary>Sleeps the given milliseconds and returns its container id.</summary>
    public Function<int, string> Sleep { get; }

    /// <summary>Like <see cref="Sleep"/> with a 1 s timeout.</summary>
    public Function<int, string> Slow { get; }

    /// <summary>Fails until it has been called more than N times for a key; logs each attempt's time to a file.</summary>
    public Function<string, int, int> Flaky { get; }

    public Function<string, string> CrashOnce { get; }

    public Function<int, int> AlwaysCrash { get; }

    public Function<int, string> Burst { get; }

    public Function<int, string> Idle { get; }

    public Function<int, string> Warm { get; }

    public Function<string, int> Print { get; }

    /// <summary>A batched plain function: each result names the size of its batch.</summary>
    public Function<string, string> Lengths { get; }

    private static int SquareOf(int x) => x * x;

    private static async Task<string[]> ProbeApiAsync(string[] requests)
    {
        using var http = new HttpClient { BaseAddress = new Uri(Environment.GetEnvironmentVariable("FERRY_SERVER_URL")!) };
        var token = Environment.GetEnvironmentVariable("FERRY_CONTAINER_TOKEN")!;
        var statuses = new List<string>();
        foreach (var line in requests)
        {
            var parts = line.Split(' ');
            var anonymous = parts[0] == "anonymous";
            using var request = new HttpRequestMessage(new HttpMethod(parts[anonymous ? 1 : 0]), parts[anonymous ? 2 : 1]);
            if (!anonymous)
            {
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            }
            if (request.Method == HttpMethod.Post || request.Method == HttpMethod.Put)
            {
                request.Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json");
            }
            using var response = await http.SendAsync(request);
            statuses.Add(((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        return [.. statuses];
    }

    private static string RunJq(string filter)
    {
        var info = new System.Diagnostics.ProcessStartInfo("jq", ["-c", filter]) { RedirectStandardInput = true, RedirectStandardOutput = true };
        using var jq = System.Diagnostics.Process.Start(info)!;
        jq.StandardInput.Write("{\"name\": \"ferry\", \"tags\": [\"a\", \"b\"]}");
        jq.StandardInput.Close();
        var output = jq.StandardOutput.ReadToEnd().Trim();
        jq.WaitForExit();
        return output;
    }

    private static async Task<string> ConnectAsync(string endpoint)
    {
        var colon = endpoint.LastIndexOf(':');
        using var client = new System.Net.Sockets.TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            await client.ConnectAsync(endpoint[..colon], int.Parse(endpoint[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture), timeout.Token);
            return "connected";
        }
        catch (System.Net.Sockets.SocketException e)
        {
            return "failed: " + e.SocketErrorCode;
        }
        catch (OperationCanceledException)
        {
            return "failed: TimedOut";
        }
    }

    private static async Task<string> HttpGetAsync(string url)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        try
        {
            return await http.GetStringAsync(url);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return "failed: " + e.Message;
        }
    }

    // One client per container, so its executions share a kept-alive connection to the counter.
    private static readonly HttpClient CounterClient = new() { Timeout = TimeSpan.FromSeconds(30) };

    private static async Task<int> CountedAsync(string counter, int index)
    {
        using var response = await CounterClient.PostAsync(counter + index.ToString(System.Globalization.CultureInfo.InvariantCulture), null);
        response.EnsureSuccessStatusCode();
        return index * 2;
    }

    private static System.Net.Sockets.TcpListener? _listener;

    private static string StartListener()
    {
        _listener ??= StartGreeter();
        var address = System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces().Single(n => n.Name == "eth0")
            .GetIPProperties().UnicastAddresses.Single(a => a.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork).Address;
        return $"{address}:{((System.Net.IPEndPoint)_listener.LocalEndpoint).Port}";
    }

    private static System.Net.Sockets.TcpListener StartGreeter()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Any, 0);
        listener.Start();
        _ = Task.Run(async () =>
        {
            while (true)
            {
                using var client = await listener.AcceptTcpClientAsync();
                await client.GetStream().WriteAsync("hello"u8.ToArray());
            }
        });
        return listener;
    }

    private static string RunShell(string command)
    {
        var info = new System.Diagnostics.ProcessStartInfo("/bin/sh", ["-c", command]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var shell = System.Diagnostics.Process.Start(info)!;
        var stderr = shell.StandardError.ReadToEndAsync();
        var stdout = shell.StandardOutput.ReadToEnd();
        shell.WaitForExit();
        return $"exit {shell.ExitCode}: {(stdout + stderr.Result).Trim()}";
    }

    private static string DescribeBuildSandbox()
    {
        var gateway = new System.Net.IPAddress(uint.Parse(File.ReadAllText("/build-gateway").Trim(), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture));
        return $"{gateway}|{File.ReadAllText("/build-unshare").Trim()}";
    }

    private static void ThrowAtBuild() => throw new InvalidOperationException("no weights to download");

    private static void WriteBuildMarker()
    {
        Directory.CreateDirectory("/built");
        File.WriteAllText("/built/marker.txt", $"written at build time in {Environment.CurrentDirectory}");
    }

    private static string DescribeImage() => string.Join("|",
        File.ReadAllText("/data/from-build.txt").Trim().ReplaceLineEndings(";"),
        Environment.GetEnvironmentVariable("IMAGE_VAR"),
        Environment.CurrentDirectory,
        File.ReadAllText("/built/marker.txt"),
        File.ReadAllText("/mnt/data/note.txt").Trim());

    private static int Throw(string message) => throw new InvalidOperationException(message);

    private static int ThrowNested(string message) =>
        throw new InvalidOperationException("saving failed", new HttpRequestException("upload failed", new IOException(message)));

    private static int ThrowMany(string message) =>
        throw new AggregateException("several failed", new FileNotFoundException(message, new IOException("disk gone")), new TimeoutException("too slow"));

    internal static async Task<string> WaitForCancelAsync(string tag, string hold, CancellationToken cancellationToken)
    {
        if (tag.Length == 0)
        {
            return Environment.GetEnvironmentVariable("FERRY_CONTAINER_ID") ?? "local";
        }
        Console.WriteLine($"waiting {tag}");
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Console.WriteLine($"cancelled {tag}");
            if (hold.Length == 0)
            {
                throw;
            }
        }
        var colon = hold.LastIndexOf(':');
        using var holder = new System.Net.Sockets.TcpClient();
        await holder.ConnectAsync(hold[..colon], int.Parse(hold[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        var buffer = new byte[16];
        while (await holder.GetStream().ReadAsync(buffer) > 0)
        {
        }
        return $"finished {tag}";
    }

    private static async Task<string> SleepAsync(int milliseconds)
    {
        await Task.Delay(milliseconds);
        return Environment.GetEnvironmentVariable("FERRY_CONTAINER_ID") ?? "local";
    }

    private static async Task<int> FlakyAsync(string file, int failures)
    {
        await File.AppendAllTextAsync(file, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + "\n");
        var attempts = (await File.ReadAllLinesAsync(file)).Length;
        return attempts <= failures ? throw new TimeoutException($"attempt {attempts} failed") : attempts;
    }

    private static string CrashOnceImpl(string marker)
    {
        if (!File.Exists(marker))
        {
            File.WriteAllText(marker, "crashed");
            Environment.Exit(17);
        }
        return "survived";
    }

    private static int AllocateNative(int mib)
    {
        var blocks = new List<IntPtr>();
        for (var i = 0; i < mib; i++)
        {
            var block = System.Runtime.InteropServices.Marshal.AllocHGlobal(1024 * 1024);
            unsafe
            {
                new Span<byte>((void*)block, 1024 * 1024).Fill(1);
            }
            blocks.Add(block);
        }
        return blocks.Count;
    }

    private static double BurnCpu(int milliseconds)
    {
        var process = System.Diagnostics.Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var wall = System.Diagnostics.Stopwatch.StartNew();
        var x = 0UL;
        while (wall.ElapsedMilliseconds < milliseconds)
        {
            x = (x * 6364136223846793005UL) + 1;
        }
        process.Refresh();
        GC.KeepAlive(x);
        return (process.TotalProcessorTime - cpuBefore).TotalMilliseconds / wall.Elapsed.TotalMilliseconds;
    }

    private static async Task<string> HoldGpuAsync(int milliseconds)
    {
        await Task.Delay(milliseconds);
        return $"{Environment.GetEnvironmentVariable("CUDA_VISIBLE_DEVICES")}|{Environment.GetEnvironmentVariable("FERRY_CONTAINER_ID")}";
    }

    private static int PrintLines(string text)
    {
        Console.WriteLine($"out: {text}");
        Console.Error.WriteLine($"err: {text}");
        return text.Length;
    }
}

public sealed record Point(int X, int Y, List<string> Tags);

/// <summary>A class with every lifecycle hook; it records them in a file so tests can count them.</summary>
public sealed class Snapshotted
{
    private readonly List<string> _hooks = [];

    [Enter(Snap = true)]
    public void Load() => _hooks.Add("snap");

    [Enter]
    public void Connect() => _hooks.Add("enter");

    [Method]
    public string Hooks() => string.Join(",", _hooks);
}

public sealed class Counter
{
    private int _calls;

    [Parameter]
    public string Label { get; set; } = "default";

    [Parameter]
    public string Journal { get; set; } = "";

    [Enter]
    public async Task LoadAsync()
    {
        // Stands in for loading a model: takes real time, once per container.
        await Task.Delay(100);
        Write("enter");
    }

    [Method]
    public string Next(int step)
    {
        _calls += step;
        return $"{Label}:{_calls}:{Environment.GetEnvironmentVariable("FERRY_CONTAINER_ID")}";
    }

    /// <summary>Waits at the test's gate (see <see cref="GeneratorFunctions.WaitAtGateAsync"/>), then returns its container id.</summary>
    [Method]
    public async Task<string> HoldAtGate(string gate)
    {
        await GeneratorFunctions.WaitAtGateAsync(gate, CancellationToken.None);
        return Environment.GetEnvironmentVariable("FERRY_CONTAINER_ID") ?? "local";
    }

    [Method]
    public async Task<string> Hold(int milliseconds)
    {
        await Task.Delay(milliseconds);
        return Environment.GetEnvironmentVariable("FERRY_CONTAINER_ID") ?? "local";
    }

    [Exit]
    public void Close()
    {
        Console.WriteLine($"closing {Label}");
        Write("exit");
    }

    private void Write(string hook)
    {
        if (Journal.Length > 0)
        {
            File.AppendAllText(Journal, $"{hook} {Label} {Environment.GetEnvironmentVariable("FERRY_CONTAINER_ID")}\n");
        }
    }
}

/// <summary>A class whose method takes a cancellation token.</summary>
public sealed class Waiter
{
    [Method]
    public Task<string> Wait(string tag, CancellationToken cancellationToken) => TestFunctions.WaitForCancelAsync(tag, "", cancellationToken);
}

/// <summary>A batched method: each result names the size of the batch its input arrived in.</summary>
public sealed class Embedder
{
    [Method]
    [Batched(maxBatchSize: 4, waitMs: 500)]
    public List<string> Embed(List<string> items) => [.. items.Select(i => $"{i}/{items.Count}")];
}

/// <summary>A batched method that answers with the wrong number of results.</summary>
public sealed class ShortBatch
{
    [Method]
    [Batched(maxBatchSize: 8, waitMs: 200)]
    public List<int> Lengths(List<string> items) => [items.Count];
}

/// <summary>
/// The seed's image processor. An image is its width, its height, then one byte per pixel, row by row.
/// </summary>
public sealed class ImageTool
{
    [Method]
    public byte[] Crop(byte[] image, int x, int y, int w, int h)
    {
        int width = image[0], height = image[1];
        if (x < 0 || y < 0 || w < 0 || h < 0 || x + w > width || y + h > height)
        {
            throw new ArgumentOutOfRangeException(nameof(w), $"A {w}x{h} crop at ({x},{y}) does not fit a {width}x{height} image.");
        }
        var cropped = new byte[2 + w * h];
        cropped[0] = (byte)w;
        cropped[1] = (byte)h;
        for (var row = 0; row < h; row++)
        {
            Array.Copy(image, 2 + (y + row) * width + x, cropped, 2 + row * w, w);
        }
        return cropped;
    }

    [Method]
    public void Save(string path, byte[] image) => File.WriteAllBytes(path, image);

    [Method]
    public async Task SaveAsync(string path, byte[] image, CancellationToken cancellationToken) =>
        await File.WriteAllBytesAsync(path, image, cancellationToken);

    [Method]
    public ValueTask<int> PixelsAsync(byte[] image) => ValueTask.FromResult(image.Length - 2);
}

/// <summary>Its enter hook reads weights that are not there, so no container of it ever serves.</summary>
public sealed class BrokenModel
{
    [Enter]
    public void Load() => ModelFiles.Read("/missing/weights.bin");

    [Method]
    public string Predict(string text) => text;
}

internal static class ModelFiles
{
    public static byte[] Read(string path) => File.ReadAllBytes(path);
}

/// <summary>Greets from the build it runs in; the deployment tests deploy builds that differ in <c>deploy-version.txt</c>.</summary>
public sealed class Greeter
{
    /// <summary>The text of <c>deploy-version.txt</c> next to the program, or <c>none</c>.</summary>
    public static string BuildVersion()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "deploy-version.txt");
        return File.Exists(path) ? File.ReadAllText(path).Trim() : "none";
    }

    [Method]
    public string Greet(string name) => $"hello {name} from {BuildVersion()}";
}
