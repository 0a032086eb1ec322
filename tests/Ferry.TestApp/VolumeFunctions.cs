using Ferry;

namespace Ferry.TestApp;

/// <summary>Functions that mount one volume at /data and read and write it from inside containers.</summary>
public sealed class VolumeFunctions
{
    /// <summary>The volume every function here mounts; the app creates it when it starts.</summary>
    public const string VolumeName = "ferry-test-volume";

    private static readonly Volume Data = Volume.FromName(VolumeName, createIfMissing: true);

    public VolumeFunctions(App app)
    {
        var mount = new Dictionary<string, Volume> { ["/data"] = Data };
        Write = app.Function<string, string, bool, string>(WriteAsync, new FunctionOptions { Volumes = mount, MaxContainers = 1 }, name: "volume_write");
        Peek = app.Function<string, bool, string>(PeekAsync, new FunctionOptions { Volumes = mount, MaxContainers = 1 }, name: "volume_peek");
        Where = app.Function<int, string>(_ => Data.Path, new FunctionOptions { Volumes = mount }, name: "volume_where");
        Big = app.Function<long, string>(WriteBigAsync, new FunctionOptions { Volumes = mount, MaxContainers = 1, Timeout = TimeSpan.FromMinutes(20) }, name: "volume_big_write");
        ReadBig = app.Function<string, long, string>(ReadBigAsync, new FunctionOptions { Volumes = mount, MaxContainers = 1, Timeout = TimeSpan.FromMinutes(20) }, name: "volume_big_read");
    }

    /// <summary>Writes <c>content</c> to a file of the volume, committing it or not; returns the container's id.</summary>
    public Function<string, string, bool, string> Write { get; }

    /// <summary>Reads a file of the volume, after a reload or not; returns <c>container-id|content</c>, with <c>&lt;missing&gt;</c> for no file.</summary>
    public Function<string, bool, string> Peek { get; }

    /// <summary>Where the container sees the volume.</summary>
    public Function<int, string> Where { get; }

    /// <summary>Writes a file of the given size in 1 MiB blocks and commits it; returns <c>write-ms|commit-ms</c>.</summary>
    public Function<long, string> Big { get; }

    /// <summary>Reloads, then reads a file whole; returns <c>reload-ms|read-ms|bytes</c>.</summary>
    public Function<string, long, string> ReadBig { get; }

    private static string Id => Environment.GetEnvironmentVariable("FERRY_CONTAINER_ID") ?? "";

    private static async Task<string> WriteAsync(string path, string content, bool commit)
    {
        var file = Path.Combine(Data.Path, path);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        await File.WriteAllTextAsync(file, content);
        if (commit)
        {
            await Data.CommitAsync();
        }
        return Id;
    }

    private static async Task<string> PeekAsync(string path, bool reload)
    {
        if (reload)
        {
            await Data.ReloadAsync();
        }
        var file = Path.Combine(Data.Path, path);
        return Id + "|" + (File.Exists(file) ? await File.ReadAllTextAsync(file) : "<missing>");
    }

    private static async Task<string> WriteBigAsync(long bytes)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var block = new byte[1 << 20];
        new Random(7).NextBytes(block);
        await using (var file = new FileStream(Path.Combine(Data.Path, "big.bin"), FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous))
        {
            for (long written = 0; written < bytes; written += block.Length)
            {
                block[0] = (byte)(written >> 20);
                await file.WriteAsync(block.AsMemory(0, (int)Math.Min(block.Length, bytes - written)));
            }
            // The written bytes are on disk before the clock stops, as dd's conv=fdatasync would have them.
            file.Flush(flushToDisk: true);
        }
        var writing = clock.Elapsed;
        clock.Restart();
        await Data.CommitAsync();
        return $"{writing.TotalMilliseconds:0}|{clock.Elapsed.TotalMilliseconds:0}";
    }

    private static async Task<string> ReadBigAsync(string path, long expected)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Data.ReloadAsync();
        var reload = clock.Elapsed;
        clock.Restart();
        long total = 0;
        var buffer = new byte[1 << 20];
        await using (var file = new FileStream(Path.Combine(Data.Path, path), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan))
        {
            int read;
            while ((read = await file.ReadAsync(buffer)) > 0)
            {
                total += read;
            }
        }
        return total == expected ? $"{reload.TotalMilliseconds:0}|{clock.Elapsed.TotalMilliseconds:0}|{total}" : throw new InvalidOperationException($"Read {total} bytes, expected {expected}.");
    }
}
