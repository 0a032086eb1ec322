using System.Diagnostics;
using Ferry.Worker.Runtimes.Runc;

namespace Ferry.Worker.Images;

/// <summary>
/// The base root filesystem: <c>debootstrap --variant=minbase bookworm</c> from the host's mirror, built once per
/// worker data dir into a staging directory and renamed into place, so a failed build is never taken for a good one.
/// </summary>
public sealed class BaseImage(string imagesDir, string? mirror)
{
    private const string Suite = "bookworm";
    private readonly SemaphoreSlim _gate = new(1, 1);

    // .NET's networking needs libssl even for plain ws:// and http://; certificates make https work too.
    private const string Include = "libssl3,ca-certificates";

    /// <summary>Where the image lives; the name changes whenever what goes into it does.</summary>
    public string Path => System.IO.Path.Combine(imagesDir, $"base-{Suite}-minbase-ssl");

    public async Task<string> EnsureAsync(Action<string> progress, CancellationToken cancellationToken)
    {
        if (Directory.Exists(Path))
        {
            return Path;
        }
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Directory.Exists(Path))
            {
                return Path;
            }
            var source = mirror ?? AptSources.FindMirror(Suite)
                ?? throw new InvalidOperationException("No Debian mirror for bookworm is named in /etc/apt; pass --apt-mirror to the worker.");
            var staging = Path + ".partial-" + Guid.NewGuid().ToString("N")[..8];
            Directory.CreateDirectory(imagesDir);
            progress($"Building the base image (debootstrap minbase {Suite} from {source}); this happens once per worker.");
            var watch = Stopwatch.StartNew();
            var (code, output) = await Processes.RunAsync("debootstrap", ["--variant=minbase", $"--include={Include}", Suite, staging, source], cancellationToken).ConfigureAwait(false);
            if (code != 0)
            {
                TryDelete(staging);
                throw new InvalidOperationException($"debootstrap failed with exit code {code}:{Environment.NewLine}{Tail(output)}");
            }
            // Targets of the per-container bind mounts, so containers never write them into an image layer.
            Directory.CreateDirectory(System.IO.Path.Combine(staging, "app"));
            Directory.CreateDirectory(System.IO.Path.Combine(staging, "usr/share/dotnet"));
            await File.WriteAllTextAsync(System.IO.Path.Combine(staging, "etc/hosts"), "", cancellationToken).ConfigureAwait(false);
            Directory.Move(staging, Path);
            progress($"Base image ready in {watch.Elapsed.TotalSeconds:0} s.");
            return Path;
        }
        finally
        {
            _gate.Release();
        }
    }

    private static string Tail(string text) => string.Join(Environment.NewLine, text.Split('\n').TakeLast(20));

    private static void TryDelete(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
