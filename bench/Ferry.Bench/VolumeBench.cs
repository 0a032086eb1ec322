using System.Diagnostics;
using System.Globalization;

namespace Ferry.Bench;

/// <summary>
/// A 1 GiB volume file written and committed in one container and read back in another, beside the disk's sequential
/// write (<c>dd conv=fdatasync</c>) and read (<c>dd iflag=direct</c>, past the page cache) of the same size, on the
/// same filesystem, in the same run.
/// </summary>
internal static class VolumeBench
{
    public sealed record Result(long Bytes, double DiskWriteSeconds, double DiskReadSeconds, double WriteSeconds, double CommitSeconds, double WriterCallSeconds,
        double ReaderCallSeconds, double ReadSeconds);

    public static async Task<Result> RunAsync(Harness harness, long bytes)
    {
        var (diskWrite, diskRead) = await DiskAsync(bytes);
        await harness.NewAppAsync();
        var volumes = harness.Functions.Volumes;
        var clock = Stopwatch.StartNew();
        var written = (await volumes.Big.RemoteAsync(bytes)).Split('|');
        var writer = clock.Elapsed.TotalSeconds;
        clock.Restart();
        var read = (await volumes.ReadBig.RemoteAsync("big.bin", bytes)).Split('|');
        var reader = clock.Elapsed.TotalSeconds;
        return new Result(bytes, diskWrite, diskRead, Seconds(written[0]), Seconds(written[1]), writer, reader, Seconds(read[1]));
    }

    private static double Seconds(string milliseconds) => double.Parse(milliseconds, CultureInfo.InvariantCulture) / 1000;

    /// <summary>The disk's sequential write to stable storage and its uncached sequential read of <paramref name="bytes"/>.</summary>
    private static async Task<(double Write, double Read)> DiskAsync(long bytes)
    {
        var file = Path.Combine(Path.GetTempPath(), "ferry-bench-disk-" + Guid.NewGuid().ToString("N")[..8]);
        var blocks = (bytes / (1024 * 1024)).ToString(CultureInfo.InvariantCulture);
        try
        {
            var write = await TimeAsync("dd", "if=/dev/zero", $"of={file}", "bs=1M", $"count={blocks}", "conv=fdatasync");
            var read = await TimeAsync("dd", $"if={file}", "of=/dev/null", "bs=1M", "iflag=direct");
            return (write, read);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static async Task<double> TimeAsync(string program, params string[] arguments)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(info)!;
        var errors = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        var elapsed = clock.Elapsed.TotalSeconds;
        return process.ExitCode == 0 ? elapsed : throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed: {await errors}");
    }
}
