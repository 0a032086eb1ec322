using System.Collections.Concurrent;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Ferry.Hosting;
using Ferry.Protocol;
using Ferry.Protocol.Validation;

namespace Ferry;

/// <summary>
/// A container image, defined in code as a base plus build steps. Each method returns a new image; an image is
/// immutable, so one base can be shared by several functions.
/// </summary>
/// <remarks>
/// Every build step becomes a cached layer whose id hashes its parent's id, the step and the contents of its inputs.
/// Building the same definition again reuses the layers; changing a step rebuilds it and every step after it.
/// Files added without <c>copy: true</c> are not layers: they are mounted when a container starts, so editing them
/// never rebuilds the image, and no build step may follow them.
/// </remarks>
public sealed partial class Image
{
    // Build functions by name, registered when the program defines its images; the build container runs the same
    // program and finds the function here.
    private static readonly ConcurrentDictionary<string, (Func<Task> Run, string DisplayName)> BuildFunctions = new(StringComparer.Ordinal);

    // Where the content of each hashed local file is on this machine, for upload.
    private static readonly ConcurrentDictionary<string, string> LocalSources = new(StringComparer.Ordinal);

    private readonly string _base;
    private readonly IReadOnlyList<Step> _steps;

    private Image(string @base, IReadOnlyList<Step> steps)
    {
        _base = @base;
        _steps = steps;
    }

    /// <summary>A minimal Debian bookworm image, the default.</summary>
    public static Image DebianSlim() => new(ImageBases.DebianSlim, []);

    /// <summary>Installs Debian packages with apt-get.</summary>
    /// <param name="packages">Package names, optionally with <c>=version</c>.</param>
    public Image AptInstall(params string[] packages) => AptInstall(packages, forceBuild: false);

    /// <summary>Installs Debian packages with apt-get.</summary>
    /// <param name="packages">Package names, optionally with <c>=version</c>.</param>
    /// <param name="forceBuild">Rebuild this step and those after it even when they are cached.</param>
    public Image AptInstall(IEnumerable<string> packages, bool forceBuild)
    {
        var list = packages.ToArray();
        if (list.Length == 0)
        {
            throw new ArgumentException("AptInstall needs at least one package.", nameof(packages));
        }
        foreach (var package in list)
        {
            if (!WireRules.IsAptPackage(package))
            {
                throw new ArgumentException($"'{package}' is not a Debian package name; write names like \"jq\" or \"ffmpeg=7:5.1.6-0+deb12u1\".", nameof(packages));
            }
        }
        return With(new ImageStep(ImageStepKinds.AptInstall, list, forceBuild));
    }

    /// <summary>Runs shell commands with <c>/bin/sh</c>, in order, in one layer. The first command that fails fails the build.</summary>
    public Image RunCommands(params string[] commands) => RunCommands(commands, forceBuild: false);

    /// <summary>Runs shell commands with <c>/bin/sh</c>, in order, in one layer. The first command that fails fails the build.</summary>
    /// <param name="commands">The commands.</param>
    /// <param name="forceBuild">Rebuild this step and those after it even when they are cached.</param>
    public Image RunCommands(IEnumerable<string> commands, bool forceBuild)
    {
        var list = commands.ToArray();
        if (list.Length == 0 || list.Any(string.IsNullOrWhiteSpace))
        {
            throw new ArgumentException("RunCommands needs at least one command, and no command may be empty.", nameof(commands));
        }
        return With(new ImageStep(ImageStepKinds.RunCommands, list, forceBuild));
    }

    /// <summary>Sets environment variables for later build steps and for the function.</summary>
    public Image Env(IReadOnlyDictionary<string, string> variables, bool forceBuild = false)
    {
        foreach (var name in variables.Keys)
        {
            if (!WireRules.IsEnvName(name))
            {
                throw new ArgumentException($"'{name}' is not an environment variable name; use letters, digits and underscores, not starting with a digit.", nameof(variables));
            }
        }
        return With(new ImageStep(
            ImageStepKinds.Env,
            variables.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}").ToArray(),
            forceBuild));
    }

    /// <summary>Sets one environment variable for later build steps and for the function.</summary>
    public Image Env(string name, string value) => Env(new Dictionary<string, string> { [name] = value });

    /// <summary>Sets the working directory of later build steps and of the function; it is created if missing.</summary>
    public Image Workdir(string path, bool forceBuild = false) =>
        With(new ImageStep(ImageStepKinds.Workdir, [CheckRemotePath(path, nameof(path))], forceBuild));

    /// <summary>
    /// Adds a local file at <paramref name="remotePath"/>. By default the file is mounted when each container starts,
    /// so changing it does not rebuild the image; with <paramref name="copy"/> it is baked into a layer, which later
    /// build steps can use.
    /// </summary>
    /// <param name="localPath">The file on this machine, absolute or relative to the current directory.</param>
    /// <param name="remotePath">Where the file appears in the container: an absolute path.</param>
    /// <param name="copy">Bake the file into the image instead of mounting it.</param>
    public Image AddLocalFile(string localPath, string remotePath, bool copy = false) =>
        With(new ImageStep(ImageStepKinds.AddLocal, [CheckRemotePath(remotePath, nameof(remotePath)), "file", copy ? "copy" : "mount", localPath]));

    /// <summary>
    /// Adds a local directory, recursively, at <paramref name="remotePath"/>. By default it is mounted when each
    /// container starts; with <paramref name="copy"/> it is baked into a layer.
    /// </summary>
    /// <param name="localPath">The directory on this machine, absolute or relative to the current directory.</param>
    /// <param name="remotePath">Where the directory appears in the container: an absolute path.</param>
    /// <param name="copy">Bake the files into the image instead of mounting them.</param>
    /// <param name="ignore">Leaves out the files whose path, relative to <paramref name="localPath"/> with <c>/</c> separators, it accepts.</param>
    public Image AddLocalDir(string localPath, string remotePath, bool copy = false, Func<string, bool>? ignore = null)
    {
        var image = With(new ImageStep(ImageStepKinds.AddLocal, [CheckRemotePath(remotePath, nameof(remotePath)), "dir", copy ? "copy" : "mount", localPath]));
        image._steps[^1].Ignore = ignore;
        return image;
    }

    /// <summary>
    /// Runs <paramref name="function"/> at build time, inside the build container with everything installed so far,
    /// and keeps the files it writes, such as downloaded model weights. The layer is rebuilt when the function's
    /// code changes; pass <paramref name="forceBuild"/> when what it fetches changes without its code changing.
    /// </summary>
    public Image RunFunction(Action function, bool forceBuild = false)
    {
        ArgumentNullException.ThrowIfNull(function);
        return RunFunction(function.Method, () =>
        {
            function();
            return Task.CompletedTask;
        }, forceBuild);
    }

    /// <summary>Runs an asynchronous <paramref name="function"/> at build time; see <see cref="RunFunction(Action, bool)"/>.</summary>
    public Image RunFunction(Func<Task> function, bool forceBuild = false)
    {
        ArgumentNullException.ThrowIfNull(function);
        return RunFunction(function.Method, function, forceBuild);
    }

    private Image RunFunction(MethodInfo method, Func<Task> run, bool forceBuild)
    {
        var name = $"{method.DeclaringType?.FullName}.{method.Name}";
        BuildFunctions[name] = (run, DisplayName(method));
        // The layer's id covers the function's compiled body, so editing the function rebuilds it.
        var body = method.GetMethodBody()?.GetILAsByteArray() ?? [];
        var code = Convert.ToHexStringLower(SHA256.HashData([.. Encoding.UTF8.GetBytes(name), .. body]))[..16];
        return With(new ImageStep(ImageStepKinds.RunFunction, [name, code, DisplayName(method)], forceBuild));
    }

    /// <summary>A method's name as its author wrote it: compilers name local functions like <c>&lt;Main&gt;g__Name|0_1</c>.</summary>
    private static string DisplayName(MethodInfo method)
    {
        var local = LocalFunctionName().Match(method.Name);
        return local.Success ? local.Groups[1].Value
            : method.Name.StartsWith('<') ? $"a lambda in {method.DeclaringType?.Name}"
            : $"{method.DeclaringType?.Name}.{method.Name}";
    }

    /// <summary>The build function registered under <paramref name="name"/>, for the build container.</summary>
    internal static (Func<Task> Run, string DisplayName)? FindBuildFunction(string name) =>
        BuildFunctions.TryGetValue(name, out var found) ? found : null;

    private Image With(ImageStep step)
    {
        if (step.Kind != ImageStepKinds.AddLocal || step.Args[2] == "copy")
        {
            var mounted = _steps.FirstOrDefault(s => s.Definition.Kind == ImageStepKinds.AddLocal && s.Definition.Args[2] == "mount");
            if (mounted is not null)
            {
                throw new InvalidOperationException(
                    $"A build step ({step.Kind}) cannot follow the mounted '{mounted.Definition.Args[3]}': mounted files arrive only when a container starts. " +
                    "Move the step before it, or add the files with copy: true.");
            }
        }
        return new Image(_base, [.. _steps, new Step(step)]);
    }

    /// <summary>The local file whose content has <paramref name="hash"/>, once an image that adds it has been described.</summary>
    internal static string? FindLocalSource(string hash) => LocalSources.GetValueOrDefault(hash);

    /// <summary>The image as the control plane sees it. Outside a container this hashes the local files it adds.</summary>
    internal ImageSpec ToSpec()
    {
        var steps = new List<ImageStep>(_steps.Count);
        foreach (var step in _steps)
        {
            var definition = step.Definition;
            if (definition.Kind == ImageStepKinds.AddLocal && !FerryContext.IsContainer)
            {
                // The local path is for this machine only; the files travel by content hash.
                definition = definition with { Args = definition.Args.Take(3).ToArray(), Files = step.Hash() };
            }
            else if (definition.Kind == ImageStepKinds.AddLocal)
            {
                definition = definition with { Args = definition.Args.Take(3).ToArray() };
            }
            steps.Add(definition);
        }
        return new ImageSpec(_base, steps);
    }

    /// <summary>A trailing <c>/</c> is forgiven; otherwise the path must be as the control plane accepts it.</summary>
    private static string CheckRemotePath(string path, string parameter)
    {
        var trimmed = path is { Length: > 1 } ? path.TrimEnd('/') : path;
        if (trimmed is null || !WireRules.IsContainerPath(trimmed))
        {
            throw new ArgumentException($"'{path}' is not an absolute path in the container, such as /root/data, without '.', '..' or empty segments.", parameter);
        }
        return trimmed;
    }

    [GeneratedRegex(@"g__([^|]+)\|")]
    private static partial Regex LocalFunctionName();

    private sealed class Step(ImageStep definition)
    {
        private IReadOnlyList<BuildFile>? _files;

        public ImageStep Definition { get; } = definition;

        public Func<string, bool>? Ignore { get; set; }

        /// <summary>Hashes the step's local files once; the result is cached for the life of the program.</summary>
        public IReadOnlyList<BuildFile> Hash()
        {
            if (_files is not null)
            {
                return _files;
            }
            var local = Path.GetFullPath(Definition.Args[3]);
            var isDir = Definition.Args[1] == "dir";
            if (isDir ? !Directory.Exists(local) : !File.Exists(local))
            {
                throw new InvalidRequestException(
                    $"The image adds the local {(isDir ? "directory" : "file")} '{Definition.Args[3]}', which does not exist (looked in {local}).");
            }
            var sources = isDir
                ? Directory.EnumerateFiles(local, "*", SearchOption.AllDirectories)
                    .Select(f => (Relative: Path.GetRelativePath(local, f).Replace(Path.DirectorySeparatorChar, '/'), Full: f))
                    .Where(f => Ignore is null || !Ignore(f.Relative))
                    .OrderBy(f => f.Relative, StringComparer.Ordinal)
                    .ToList()
                : [(Relative: Path.GetFileName(local), Full: local)];
            _files = sources.Select(f =>
            {
                using var stream = File.OpenRead(f.Full);
                return new BuildFile(f.Relative, Convert.ToHexStringLower(SHA256.HashData(stream)), stream.Length);
            }).ToList();
            foreach (var (file, source) in _files.Zip(sources))
            {
                LocalSources[file.Hash] = source.Full;
            }
            return _files;
        }
    }
}
