using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ferry.Bench;

if (await ServerSettings.RelaunchWithoutThemAsync(args) is { } relaunched)
{
    return relaunched;
}
// Runs every measurement, prints it, and appends it to bench/RESULTS.md with the machine's details.
var results = new List<(string Name, string Ferry, string Floor, string Ratio)>();
// `--only runc` measures just the runc cold start, for quick iterations on it.
var runcOnly = args.SequenceEqual(["--only", "runc"]);
// `--only retention [MAPS] [SIZE]` measures a separate server's memory and disk over successive spawn maps.
var retentionOnly = args.Length >= 2 && args[0] == "--only" && args[1] == "retention";
// `--only generator` measures a map and a generator of 100,000 small items side by side.
var generatorOnly = args.SequenceEqual(["--only", "generator"]);
var runtimes = runcOnly ? "runc runtime only" : "process runtime";
if (retentionOnly)
{
    var maps = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 10;
    var size = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 1_000_000;
    results.AddRange(await RetentionBench.RunAsync(maps, size));
    runtimes = $"retention: {maps} spawn maps of {size:N0} on a separate server process";
    return Append();
}
// `--probe URL` (started by the spawn section) GETs URL every 15 ms from a process of its own until its input closes,
// printing each probe's Unix time and latency in milliseconds.
if (args.Length == 2 && args[0] == "--probe")
{
    await SpawnBench.ProbeAsync(new Uri(args[1]));
    return 0;
}
// `--only spawn [SIZE] [RUNS]` measures a spawn map of 1,000,000 inputs on a separate server process: acceptance, the
// health route's latency and the server's memory throughout, and the store's size per input.
if (args.Length >= 2 && args[0] == "--only" && args[1] == "spawn")
{
    var size = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1_000_000;
    var runs = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 1;
    for (var run = 0; run < runs; run++)
    {
        results.AddRange(SpawnBench.Rows(await SpawnBench.RunAsync(size)));
    }
    runtimes = $"spawn map of {size:N0} on a separate server process (process runtime), {runs} run{(runs == 1 ? "" : "s")}";
    return Append();
}
// `--only store [SIZE]` measures the embedded store on its own as a map of SIZE inputs (default 200,000) drives it.
if (args.Length >= 2 && args[0] == "--only" && args[1] == "store")
{
    var size = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 200_000;
    results.AddRange(await StoreBench.RunAsync(size));
    runtimes = $"the SQLite store on its own, a map of {size:N0}";
    return Append();
}
// `--only objects` measures Dict and Queue operations from local code beside SQLite on its own.
var objectsOnly = args.SequenceEqual(["--only", "objects"]);
// The inner loop runs against a worker as `ferry server` starts it, placeholders and all (FERRY_PLACEHOLDERS=0 turns
// them off); the other measures keep a worker without them, so that their cold starts stay comparable with earlier runs.
var innerLoopOnly = args.SequenceEqual(["--only", "innerloop"]);
await using var harness = await Harness.StartAsync(innerLoopOnly
    ? dir => new Ferry.Worker.Runtimes.ProcessRuntime(dir, Ferry.Worker.Runtimes.Placeholders.PlaceholderOptions.From(null))
    : null);
if (objectsOnly)
{
    var objects = await ObjectBench.RunAsync(harness, 2_000, 20_000);
    results.Add(("Dict put p50 (local code)", Ms(objects.DictPutP50Ms), Ms(objects.SqlitePutP50Ms) + " (SQLite upsert, own transaction)", Ratio(objects.DictPutP50Ms, objects.SqlitePutP50Ms)));
    results.Add(("Dict get p50 (local code)", Ms(objects.DictGetP50Ms), Ms(objects.SqliteGetP50Ms) + " (SQLite select)", Ratio(objects.DictGetP50Ms, objects.SqliteGetP50Ms)));
    results.Add(("Dict gets, sequential", $"{objects.DictGetsPerSecond:N0} ops/s", "", ""));
    results.Add(("Queue put-then-get, batches of 100", $"{objects.QueueItemsPerSecond:N0} items/s", $"{objects.SqliteQueueItemsPerSecond:N0} items/s (SQLite insert and delete-returning)", Ratio(objects.QueueItemsPerSecond, objects.SqliteQueueItemsPerSecond)));
    var redis = await RedisFloor.RunAsync(2_000, 20_000);
    if (redis.SkippedBecause is { } why)
    {
        results.Add(("redis column skipped", why, "", ""));
    }
    else
    {
        results.Add(("Dict put p50, beside redis SET (one client, loopback, no persistence)", Ms(objects.DictPutP50Ms), Ms(redis.SetP50Ms) + $" (redis SET; {redis.SetRps:N0} ops/s)", Ratio(objects.DictPutP50Ms, redis.SetP50Ms)));
        results.Add(("Dict get p50, beside redis GET", Ms(objects.DictGetP50Ms), Ms(redis.GetP50Ms) + $" (redis GET; {redis.GetRps:N0} ops/s)", Ratio(objects.DictGetP50Ms, redis.GetP50Ms)));
        results.Add(("Dict gets, sequential, beside redis GET", $"{objects.DictGetsPerSecond:N0} ops/s", $"{redis.GetRps:N0} ops/s (redis GET)", Ratio(objects.DictGetsPerSecond, redis.GetRps)));
        results.Add(("Queue put-then-get, beside redis LPUSH then LPOP pipelined 100 deep", $"{objects.QueueItemsPerSecond:N0} items/s", $"{redis.PushPopItemsPerSecond:N0} items/s (redis)", Ratio(objects.QueueItemsPerSecond, redis.PushPopItemsPerSecond)));
    }
    runtimes = "process runtime, dicts and queues only";
    return Append();
}
// `--only volumes` measures a 1 GiB volume file through two containers beside the disk, and Dict and Queue operations
// from inside a container.
if (args.SequenceEqual(["--only", "volumes"]))
{
    var volume = await VolumeBench.RunAsync(harness, 1L << 30);
    var gib = volume.Bytes / (1024.0 * 1024 * 1024);
    var rate = (double seconds) => $"{volume.Bytes / seconds / (1024 * 1024):N0} MiB/s";
    var endToEnd = volume.WriterCallSeconds + volume.ReaderCallSeconds;
    var disk = volume.DiskWriteSeconds + volume.DiskReadSeconds;
    results.Add(($"volume: {gib:0.#} GiB written, committed, read in another container (end to end)", rate(endToEnd) + $" ({endToEnd:0.0} s)",
        rate(disk) + $" ({disk:0.0} s: dd write with fdatasync, then an uncached dd read)", Ratio(disk, endToEnd)));
    results.Add(("  write in the container (with fsync)", rate(volume.WriteSeconds), rate(volume.DiskWriteSeconds) + " (dd write, fdatasync)", Ratio(volume.DiskWriteSeconds, volume.WriteSeconds)));
    results.Add(("  CommitAsync (hash, upload, publish)", rate(volume.CommitSeconds), "", ""));
    results.Add(("  reader call: container start with its copy, reload, read", rate(volume.ReaderCallSeconds) + $" ({volume.ReaderCallSeconds:0.0} s)", rate(volume.DiskReadSeconds) + " (dd read, O_DIRECT)", Ratio(volume.DiskReadSeconds, volume.ReaderCallSeconds)));
    results.Add(("  read in the container", rate(volume.ReadSeconds), rate(volume.DiskReadSeconds) + " (dd read, O_DIRECT)", Ratio(volume.DiskReadSeconds, volume.ReadSeconds)));
    await harness.NewAppAsync();
    var inside = await harness.Functions.Objects.Measure.RemoteAsync("bench-" + Guid.NewGuid().ToString("N")[..8], 2_000, 20_000);
    results.Add(("Dict put p50 (from a container)", Ms(inside[0]), "", ""));
    results.Add(("Dict get p50 (from a container)", Ms(inside[1]), "1.000 ms (target)", Ratio(inside[1], 1.0)));
    results.Add(("Queue put-then-get from a container, batches of 100", $"{inside[2]:N0} items/s", "20,000 items/s (target)", Ratio(inside[2], 20_000)));
    runtimes = "process runtime, volumes and objects from a container only";
    return Append();
}
// `--only deploy` measures a redeploy and `ferry serve`'s edit-to-live, with the CLI as a process, beside a plain build.
if (args.SequenceEqual(["--only", "deploy"]))
{
    var deploy = await DeployBench.RunAsync(harness);
    var seconds = (double s) => $"{s:0.0} s";
    results.Add(("redeploy: `ferry deploy` of an edit until the new version answers", seconds(deploy.RedeploySeconds), seconds(deploy.BuildFloorSeconds) + " (dotnet build of the edit)", Ratio(deploy.RedeploySeconds, deploy.BuildFloorSeconds)));
    results.Add(("redeploy: the `ferry deploy` command itself", seconds(deploy.DeployCommandSeconds), seconds(deploy.BuildFloorSeconds), Ratio(deploy.DeployCommandSeconds, deploy.BuildFloorSeconds)));
    results.Add(("calls during the swap, p99", Ms(deploy.P99DuringMs), Ms(deploy.P99BeforeMs) + " (same callers before the deploy)", Ratio(deploy.P99DuringMs, deploy.P99BeforeMs)));
    results.Add(("calls across the redeploy", $"{deploy.Calls:N0} answered, {deploy.Failures} failed", "", ""));
    results.Add(("`ferry serve`: saved edit until it answers", seconds(deploy.ServeEditSeconds), seconds(deploy.BuildFloorSeconds) + " (dotnet build of the edit)", Ratio(deploy.ServeEditSeconds, deploy.BuildFloorSeconds)));
    runtimes = "process runtime, redeploy and serve only";
    return Append();
}
// `--only web` measures a trivial GET endpoint under wrk through the gateway and straight to its container's Kestrel.
if (args.Length >= 2 && args[0] == "--only" && args[1] == "web")
{
    var seconds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 8;
    var (runs, coldMs, coldCallMs) = await WebBench.RunAsync(harness, [1, 16], TimeSpan.FromSeconds(seconds), 3);
    foreach (var run in runs)
    {
        var (g, k) = (run.Gateway, run.Kestrel);
        var kestrel = $" (the container's Kestrel, {run.Connections} connection{(run.Connections == 1 ? "" : "s")})";
        results.Add(($"web GET through the gateway, wrk -c{run.Connections}: requests/s", $"{g.RequestsPerSecond:N0}", $"{k.RequestsPerSecond:N0}{kestrel}", Ratio(g.RequestsPerSecond, k.RequestsPerSecond)));
        results.Add(($"  p50", Ms(g.P50Ms), Ms(k.P50Ms), $"+{g.P50Ms - k.P50Ms:0.00} ms"));
        results.Add(($"  p99", Ms(g.P99Ms), Ms(k.P99Ms), Ratio(g.P99Ms, k.P99Ms)));
        results.Add(("  failed requests (non-2xx or socket errors)", $"{g.Errors:N0}", $"{k.Errors:N0}", ""));
        var y = run.BareYarp;
        results.Add(($"  a bare YARP forwarder to the same container, wrk -c{run.Connections}: requests/s", $"{g.RequestsPerSecond:N0} (gateway)", $"{y.RequestsPerSecond:N0}", Ratio(g.RequestsPerSecond, y.RequestsPerSecond)));
        results.Add(("    p50", Ms(g.P50Ms), Ms(y.P50Ms), $"+{g.P50Ms - y.P50Ms:0.00} ms"));
    }
    results.Add(("web GET, first request from zero containers", Ms(coldMs), Ms(coldCallMs) + " (cold call of a plain function)", Ratio(coldMs, coldCallMs)));
    runtimes = $"process runtime, web endpoints only (wrk, medians of 3 alternating runs of {seconds} s)";
    return Append();
}
// `--only innerloop` measures `ferry run` of a small app on a warm server, unchanged and after an edit, by its parts,
// beside `dotnet run app.cs` of the same file.
if (innerLoopOnly)
{
    var inner = await InnerLoopBench.RunAsync(harness);
    var seconds = (double s) => $"{s:0.00} s";
    foreach (var (label, run, floor) in new[] { ("unchanged", inner.Unchanged, inner.DotnetRunUnchangedSeconds), ("after a one-line edit", inner.Edited, inner.DotnetRunEditedSeconds) })
    {
        results.Add(($"`ferry run` {label}: to the first remote result", seconds(run.FirstResultMs / 1000), seconds(floor) + $" (`dotnet run app.cs` {label}, to its end)", Ratio(run.FirstResultMs / 1000, floor)));
        var previous = 0.0;
        foreach (var part in (string[])["cli-start", "build", "connect", "program-ready", "upload", "app-created"])
        {
            if (run.Parts.TryGetValue(part, out var end))
            {
                results.Add(($"  {part.Replace('-', ' ')} (ends at {Ms(end)})", Ms(Math.Max(0, end - previous)), "", ""));
                previous = Math.Max(previous, end);
            }
        }
        results.Add(($"  first container ready (at {Ms(run.FirstContainerReadyMs)})", Ms(Math.Max(0, run.FirstContainerReadyMs - previous)), "", ""));
        results.Add(($"  first result (at {Ms(run.FirstResultMs)})", Ms(run.FirstResultMs - Math.Max(previous, run.FirstContainerReadyMs)), "", ""));
        results.Add(($"  the rest: class call, map of 5, stopping the app (exit at {Ms(run.ExitMs)})", Ms(run.ExitMs - run.FirstResultMs), "", ""));
    }
    runtimes = $"process runtime, inner loop only, placeholders {(Ferry.Worker.Runtimes.Placeholders.PlaceholderOptions.From(null).Enabled ? "on (as `ferry server` starts them)" : "off")}";
    return Append();
}
// `--profile warm|map [SIZE]` runs only 20,000 warm calls or one map of 100,000 (or SIZE), appending nothing, for a profiler to watch.
if (args.Length is 2 or 3 && args[0] == "--profile")
{
    if (args[1] == "warm")
    {
        var warm = await Measure.WarmLatencyAsync(harness, 20_000);
        Console.WriteLine($"warm call p50 {Ms(warm.P50)}, p99 {Ms(warm.P99)}");
    }
    else
    {
        var size = args.Length == 3 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 100_000;
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var cpu = Environment.CpuUsage.TotalTime;
        var rate = await Measure.MapThroughputAsync(harness, size);
        // The caller and the control plane share this process; the warm-up map of 200 is counted in. CPU time per input
        // moves less than the rate with what else the machine runs.
        var perInput = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / (double)size;
        var cpuPerInput = (Environment.CpuUsage.TotalTime - cpu).TotalMicroseconds / size;
        Console.WriteLine($"map of {size:N0}: {rate:N0} inputs/s; the caller and the control plane: {perInput:N0} bytes allocated and {cpuPerInput:0.0} us of CPU per input");
    }
    return 0;
}
// `--only runc-cold` measures runc cold starts with placeholders off and on beside a bare `runc run`, alternating.
if (args.SequenceEqual(["--only", "runc-cold"]))
{
    if (!Ferry.Worker.Runtimes.Runc.RuncRuntime.IsAvailable(out var why))
    {
        Console.WriteLine($"Skipping the runc measurements: {why}.");
        return 0;
    }
    await AddRuncPlaceholderColdStartsAsync(9);
    runtimes = "runc runtime, cold starts with and without placeholders only";
    return Append();
}
// `--only cold` measures cold starts beside their floors with placeholders off and on, alternating, for quick iterations.
if (args.SequenceEqual(["--only", "cold"]))
{
    await AddPlaceholderColdStartsAsync(7);
    runtimes = "process runtime, cold starts with and without placeholders only";
    return Append();
}
// `--only calls` measures the warm call and the maps of 10,000 and 100,000 beside their floors, for quick iterations.
if (args.SequenceEqual(["--only", "calls"]))
{
    var mapRates = new Dictionary<int, double>();
    var echo = await Measure.EchoLatencyAsync(2_000);
    var warm = await Measure.WarmLatencyAsync(harness, 2_000);
    results.Add(("warm call p50", Ms(warm.P50), Ms(echo.P50) + " (loopback HTTP echo)", Ratio(warm.P50, echo.P50)));
    results.Add(("warm call p99", Ms(warm.P99), Ms(echo.P99), Ratio(warm.P99, echo.P99)));
    var echoRate = await Measure.EchoThroughputAsync(20_000);
    foreach (var count in new[] { 10_000, 100_000 })
    {
        var rate = await Measure.MapThroughputAsync(harness, count);
        results.Add(($"map of {count:N0} inputs", $"{rate:N0} inputs/s", $"{echoRate:N0} requests/s (echo, 8 concurrent)", Ratio(rate, echoRate)));
        mapRates[count] = rate;
    }
    AddUntieredMap(100_000, await Measure.MapThroughputAsync(harness, 100_000, untiered: true), echoRate);
    await AddDaskAsync(warm.P50, mapRates);
    runtimes = "process runtime, calls and maps only";
    return Append();
}
// `--only map1m` measures maps of 100,000 and 1,000,000 inputs beside the echo's request rate, each on a new app.
if (args.SequenceEqual(["--only", "map1m"]))
{
    var echoRate = await Measure.EchoThroughputAsync(20_000);
    foreach (var count in new[] { 100_000, 1_000_000 })
    {
        var rate = await Measure.MapThroughputAsync(harness, count);
        results.Add(($"map of {count:N0} inputs", $"{rate:N0} inputs/s", $"{echoRate:N0} requests/s (echo, 8 concurrent)", Ratio(rate, echoRate)));
        AddUntieredMap(count, await Measure.MapThroughputAsync(harness, count, untiered: true), echoRate);
    }
    runtimes = "process runtime, maps of 100,000 and 1,000,000 only";
    return Append();
}
if (generatorOnly)
{
    await AddGeneratorAsync(await Measure.MapThroughputAsync(harness, 100_000));
    runtimes = "process runtime, map and generator only";
    return Append();
}
if (!runcOnly)
{
    var echo = await Measure.EchoLatencyAsync(2_000);
    var warm = await Measure.WarmLatencyAsync(harness, 2_000);
    results.Add(("warm call p50", Ms(warm.P50), Ms(echo.P50) + " (loopback HTTP echo)", Ratio(warm.P50, echo.P50)));
    results.Add(("warm call p99", Ms(warm.P99), Ms(echo.P99), Ratio(warm.P99, echo.P99)));
    var (clientCheck, containerCheck) = await Measure.CredentialCheckAsync(harness, 50_000);
    results.Add(("credential check, client token", Us(clientCheck), "", $"{clientCheck / 10 / warm.P50:0.00}% of a warm call p50"));
    results.Add(("credential check, container token", Us(containerCheck), "", $"{containerCheck / 10 / warm.P50:0.00}% of a warm call p50"));

    var echoRate = await Measure.EchoThroughputAsync(20_000);
    var mapRate = 0.0;
    var mapRates = new Dictionary<int, double>();
    foreach (var count in MapCounts())
    {
        mapRate = await Measure.MapThroughputAsync(harness, count);
        results.Add(($"map of {count:N0} inputs", $"{mapRate:N0} inputs/s", $"{echoRate:N0} requests/s (echo, 8 concurrent)", Ratio(mapRate, echoRate)));
        mapRates[count] = mapRate;
    }
    await AddGeneratorAsync(mapRates[100_000]);
    await AddDaskAsync(warm.P50, mapRates);

    var floor = await Measure.BareStartAsync(5);
    var cold = await Measure.ColdStartAsync(harness, 5);
    AddColdStart("cold start, total", cold, floor, "bare process start", "process start (worker)");
}

if (Ferry.Worker.Runtimes.Runc.RuncRuntime.IsAvailable(out var noRunc))
{
    runtimes = runcOnly ? runtimes : "process and runc runtimes";
    await using var runc = await Harness.StartAsync(dir => new Ferry.Worker.Runtimes.Runc.RuncRuntime(
        dir, new Ferry.Worker.Images.BaseImage(Harness.ImagesDir, null), _ => { }));
    // The first container builds or finds the base image; the samples then start with a cached image.
    await runc.NewAppAsync();
    await runc.Functions.Square.RemoteAsync(1);
    // The same runtime with containers in the host's network namespace, to show what isolation costs in this run.
    await using var shared = await Harness.StartAsync(dir => new Ferry.Worker.Runtimes.Runc.RuncRuntime(
        dir, new Ferry.Worker.Images.BaseImage(Harness.ImagesDir, null), _ => { }, null, isolateNetwork: false));
    await shared.NewAppAsync();
    await shared.Functions.Square.RemoteAsync(1);
    var runcFloor = await Measure.BareRuncStartAsync(new Ferry.Worker.Images.BaseImage(Harness.ImagesDir, null).Path, 9);
    // Alternating samples, so a slow moment of the shared machine does not land on one side only.
    var (runcCold, sharedCold) = await Measure.ColdStartPairAsync(runc, shared, 9);
    AddColdStart("runc cold start, total", runcCold, runcFloor, "bare `runc run`, same program and rootfs", "container start (image check, bundle, network, runc)");
    results.Add(("runc cold start, host network (no isolation)", Ms(sharedCold.Total), Ms(runcCold.Total) + " (isolated, above)", Ratio(runcCold.Total, sharedCold.Total)));
    results.Add(("  container start (image check, bundle, runc)", Ms(sharedCold.ProcessStart), Ms(runcCold.ProcessStart) + " (isolated)", ""));
    var network = await Measure.NetworkSetupAsync(50);
    results.Add(("container network setup (netns, veth, address)", Ms(network.Setup), "", ""));
    results.Add(("container network teardown", Ms(network.Teardown), "", ""));
    var runcWarm = await Measure.WarmLatencyAsync(runc, 1_000);
    var sharedWarm = await Measure.WarmLatencyAsync(shared, 1_000);
    results.Add(("runc warm call p50, isolated (through the relay)", Ms(runcWarm.P50), Ms(sharedWarm.P50) + " (host network)", Ratio(runcWarm.P50, sharedWarm.P50)));
    results.Add(("runc warm call p99, isolated (through the relay)", Ms(runcWarm.P99), Ms(sharedWarm.P99) + " (host network)", Ratio(runcWarm.P99, sharedWarm.P99)));
    results.Add(("image cache check (3 cached layers)", Ms(await Measure.ImageCacheCheckAsync()), "100 ms (target)", ""));
    await AddRuncPlaceholderColdStartsAsync(5);
}
else
{
    Console.WriteLine($"Skipping the runc measurements: {noRunc}.");
}

return Append();

int Append()
{
    var table = new StringBuilder();
    table.AppendLine("| measure | Ferry | floor | ratio |").AppendLine("|---|---|---|---|");
    foreach (var (name, ferry, baseline, ratio) in results)
    {
        table.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {ferry} | {baseline} | {ratio} |");
    }
    Console.WriteLine(table);
    var section = new StringBuilder()
        .AppendLine(CultureInfo.InvariantCulture, $"## {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC, {runtimes}")
        .AppendLine()
        .AppendLine(Machine.Describe())
        .AppendLine()
        .Append(table)
        .AppendLine();
    var path = Path.Combine(Harness.RepositoryRoot, "bench", "RESULTS.md");
    if (!File.Exists(path))
    {
        File.WriteAllText(path, "# Benchmark results\n\nAppended by `dotnet run -c Release --project bench/Ferry.Bench`. Ratios are Ferry over the floor measured in the same run.\n\n");
    }
    File.AppendAllText(path, section.ToString());
    Console.WriteLine($"Appended to {path}");
    return 0;
}

// The maps of the full benchmark: 10,000 and 100,000, and 1,000,000 when FERRY_BENCH_MILLION=1 (minutes on 2 cores).
static int[] MapCounts() => Environment.GetEnvironmentVariable("FERRY_BENCH_MILLION") == "1" ? [10_000, 100_000, 1_000_000] : [10_000, 100_000];

// Dask's figures for the same work, measured now on the same machine, beside Ferry's; or a row saying why not.
async Task AddDaskAsync(double warmP50, IReadOnlyDictionary<int, double> mapRates)
{
    if (Environment.GetEnvironmentVariable("FERRY_BENCH_NO_DASK") == "1")
    {
        results.Add(("Dask column skipped", "FERRY_BENCH_NO_DASK=1", "", ""));
        return;
    }
    var dask = await DaskFloor.RunAsync(2_000, [.. mapRates.Keys.Where(c => c <= 100_000)]);
    if (dask.SkippedBecause is { } why)
    {
        results.Add(("Dask column skipped", why, "", ""));
        return;
    }
    results.Add(("warm call p50, beside Dask (LocalCluster of 2 workers, submit().result())", Ms(warmP50), Ms(dask.WarmP50Ms) + " (Dask)", Ratio(warmP50, dask.WarmP50Ms)));
    foreach (var (count, rate) in mapRates)
    {
        if (dask.MapRates.TryGetValue(count, out var daskRate))
        {
            results.Add(($"map of {count:N0} inputs, beside Dask (client.map, gather)", $"{rate:N0} inputs/s", $"{daskRate:N0} inputs/s (Dask)", Ratio(rate, daskRate)));
        }
    }
}

// A generator's items per second, container to caller, beside a map's results per second of the same count.
async Task AddGeneratorAsync(double mapRate)
{
    const int count = 100_000;
    if (generatorOnly)
    {
        results.Add(($"map of {count:N0} inputs", $"{mapRate:N0} inputs/s", "", ""));
    }
    var rate = await Measure.GeneratorThroughputAsync(harness, count);
    results.Add(($"generator of {count:N0} items (ints)", $"{rate:N0} items/s", $"{mapRate:N0} results/s (map of {count:N0}, above)", Ratio(rate, mapRate)));
}

// Process cold starts with placeholders off and on, samples alternating between the two workers, each sample after
// the app's min container is up and (with placeholders) one placeholder is ready; then the bare start floor.
async Task AddPlaceholderColdStartsAsync(int samples)
{
    Ferry.Worker.Runtimes.ProcessRuntime? pooledRuntime = null;
    await using var pooled = await Harness.StartAsync(dir => pooledRuntime = new Ferry.Worker.Runtimes.ProcessRuntime(dir, new Ferry.Worker.Runtimes.Placeholders.PlaceholderOptions()));
    var pool = pooledRuntime!.Placeholders!;
    Task Settled() => Task.CompletedTask;
    async Task PlaceholderReady()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await pool.WaitForReadyAsync(1, timeout.Token);
    }
    // One start each first, so neither side pays for the first JIT of the control plane's and worker's code.
    await Measure.ColdStartAsync(harness, 1, Settled);
    await Measure.ColdStartAsync(pooled, 1, PlaceholderReady);
    var (off, on, bare) = (new List<ColdStart>(), new List<ColdStart>(), new List<double>());
    var taken = pool.Taken;
    for (var i = 0; i < samples; i++)
    {
        // The floor's samples alternate with the two sides too: on a shared machine, a floor measured apart is
        // measured under another load.
        bare.Add(await Measure.BareStartAsync(1));
        off.Add(await Measure.ColdStartAsync(harness, 1, Settled));
        on.Add(await Measure.ColdStartAsync(pooled, 1, PlaceholderReady));
    }
    // Every sample took a placeholder (the app's min container took another before it).
    var fromPlaceholders = pool.Taken - taken;
    var floor = bare.Order().ElementAt(samples / 2);
    AddColdStart("cold start, total, placeholders off", MedianOf(off), floor, "bare process start", "process start (worker)");
    AddColdStart($"cold start, total, placeholders on ({fromPlaceholders} placeholders taken for {samples} samples and their min containers)", MedianOf(on), floor, "bare process start", "process start (worker: specialise)");
}

// runc cold starts with placeholders off and on, and a bare `runc run` of the same program, samples alternating
// between the three; each sample after the app's min container is up and (with placeholders) the pool has refilled.
async Task AddRuncPlaceholderColdStartsAsync(int samples)
{
    var baseImage = new Ferry.Worker.Images.BaseImage(Harness.ImagesDir, null);
    await using var plain = await Harness.StartAsync(dir => new Ferry.Worker.Runtimes.Runc.RuncRuntime(dir, baseImage, _ => { }));
    Ferry.Worker.Runtimes.Runc.RuncRuntime? pooledRuntime = null;
    await using var pooled = await Harness.StartAsync(dir => pooledRuntime = new Ferry.Worker.Runtimes.Runc.RuncRuntime(dir, baseImage, _ => { },
        placeholders: new Ferry.Worker.Runtimes.Placeholders.PlaceholderOptions()));
    var pool = pooledRuntime!.Placeholders!;
    Task Settled() => Task.CompletedTask;
    async Task PoolSettled()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await pool.WaitForSettledAsync(timeout.Token);
    }
    // One start each first: the base image's first use, and the first JIT of the control plane's and worker's code.
    await Measure.ColdStartAsync(plain, 1, Settled);
    await Measure.ColdStartAsync(pooled, 1, PoolSettled);
    var (off, on, bare) = (new List<ColdStart>(), new List<ColdStart>(), new List<double>());
    var specialised = new List<Ferry.Worker.Runtimes.Runc.RuncRuntime.SpecialiseTiming>();
    var taken = pool.Taken;
    for (var i = 0; i < samples; i++)
    {
        bare.Add(await Measure.BareRuncStartAsync(baseImage.Path, 1));
        off.Add(await Measure.ColdStartAsync(plain, 1, Settled));
        on.Add(await Measure.ColdStartAsync(pooled, 1, PoolSettled));
        // The sample's own container is the last one specialised: its app's min container started before it.
        if (pooledRuntime.LastSpecialise is { } timing)
        {
            specialised.Add(timing);
        }
    }
    var fromPlaceholders = pool.Taken - taken;
    var floor = bare.Order().ElementAt(samples / 2);
    AddColdStart("runc cold start, total, placeholders off", MedianOf(off), floor, "bare `runc run`, same program and rootfs", "container start (image check, bundle, network, runc)");
    AddColdStart($"runc cold start, total, placeholders on ({fromPlaceholders} placeholders taken for {samples} samples and their min containers)", MedianOf(on), floor,
        "bare `runc run`, same program and rootfs", "container start (image check, specialise: link build, name)");
    if (specialised.Count > 0)
    {
        double Median(Func<Ferry.Worker.Runtimes.Runc.RuncRuntime.SpecialiseTiming, TimeSpan> pick) =>
            specialised.Select(t => pick(t).TotalMilliseconds).Order().ElementAt(specialised.Count / 2);
        results.Add(("    specialise (take to app told)", Ms(Median(t => t.Total)), "", ""));
        results.Add(("      apply limits (cgroup files, or runc update), at once with the next", Ms(Median(t => t.Limits)), "", ""));
        results.Add(("      link the build into /app", Ms(Median(t => t.Link)), "", ""));
    }
}

static ColdStart MedianOf(List<ColdStart> runs)
{
    double Of(Func<ColdStart, double> pick) => runs.Select(pick).Order().ElementAt(runs.Count / 2);
    return new ColdStart(Of(r => r.Total), Of(r => r.Schedule), Of(r => r.ProcessStart), Of(r => r.Ready), Of(r => r.FirstOutput));
}

// A cold start's total beside its floor, then its phases.
void AddColdStart(string name, ColdStart cold, double floor, string floorName, string startPhase)
{
    results.Add((name, Ms(cold.Total), $"{Ms(floor)} ({floorName})", Ratio(cold.Total, floor)));
    results.Add(("  schedule (call to container start)", Ms(cold.Schedule), "", ""));
    results.Add(($"  {startPhase}", Ms(cold.ProcessStart), "", ""));
    results.Add(("  runtime ready (connect, enter)", Ms(cold.Ready), "", ""));
    results.Add(("  first output", Ms(cold.FirstOutput), "", ""));
}

// A map of a function whose containers run with tiered compilation off, the opt-in docs/autoscaling.md describes.
void AddUntieredMap(int count, double rate, double echoRate) =>
    results.Add(($"map of {count:N0} inputs, tiered compilation off in its containers (opt-in)", $"{rate:N0} inputs/s", $"{echoRate:N0} requests/s (echo, 8 concurrent)", Ratio(rate, echoRate)));

static string Us(double us) => us.ToString("0.0", CultureInfo.InvariantCulture) + " µs";

static string Ms(double ms) => ms.ToString("0.00", CultureInfo.InvariantCulture) + " ms";

static string Ratio(double a, double b) => b <= 0 ? "" : (a / b).ToString("0.00", CultureInfo.InvariantCulture) + "x";
