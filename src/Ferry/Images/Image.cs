using Ferry.Protocol;

namespace Ferry;

/// <summary>
/// A container image, defined in code as a base plus build steps. Each method returns a new image; an image is
/// immutable, so one base can be shared by several functions.
/// </summary>
public sealed class Image
{
    private readonly string _base;
    private readonly IReadOnlyList<ImageStep> _steps;

    private Image(string @base, IReadOnlyList<ImageStep> steps)
    {
        _base = @base;
        _steps = steps;
    }

    /// <summary>A minimal Debian bookworm image, the default.</summary>
    public static Image DebianSlim() => new("debian-bookworm-minbase", []);

    /// <summary>Installs Debian packages with apt-get.</summary>
    public Image AptInstall(params string[] packages) => With("apt_install", packages);

    /// <summary>Runs shell commands, each in order, in the image.</summary>
    public Image RunCommands(params string[] commands) => With("run_commands", commands);

    /// <summary>Sets environment variables for everything that runs in the image.</summary>
    public Image Env(IReadOnlyDictionary<string, string> variables) =>
        With("env", variables.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}").ToArray());

    /// <summary>Sets the working directory of later steps and of the function.</summary>
    public Image Workdir(string path) => With("workdir", [path]);

    private Image With(string kind, string[] args) => new(_base, [.. _steps, new ImageStep(kind, args)]);

    internal ImageSpec ToSpec() => new(_base, _steps);
}
