using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ferry.Protocol;
using Ferry.Protocol.Validation;

namespace Ferry.Worker.Runtimes.Runc;

/// <summary>A local file or directory mounted read-only into a container when it starts.</summary>
public sealed record ImageMount(string Source, string Destination);

/// <summary>An image ready to run: its layers (top first, the base last) and what it sets for the process.</summary>
/// <param name="Id">The image's id: that of its last build step.</param>
/// <param name="Lowers">The layer directories, top first, ending with the base image.</param>
/// <param name="Environment"><c>NAME=value</c> pairs the image sets.</param>
/// <param name="Workdir">The working directory the image sets, if any.</param>
/// <param name="Mounts">Local files mounted at start.</param>
/// <param name="Layers">How many steps above the base the image has.</param>
/// <param name="BuiltLayers">How many of them this request built.</param>
public sealed record ResolvedImage(
    string Id,
    IReadOnlyList<string> Lowers,
    IReadOnlyList<string> Environment,
    string? Workdir,
    IReadOnlyList<ImageMount> Mounts,
    int Layers,
    int BuiltLayers);

/// <summary>Who asks for an image: the app (a forced build happens once per app) and its build, for build functions.</summary>
public sealed record ImageRequest(string AppId, string BuildDir, string EntryAssembly, IBlobSource Blobs);

/// <summary>Fetches a blob of the control plane's store into a local file, checking its hash.</summary>
public interface IBlobSource
{
    Task DownloadAsync(string hash, string target, CancellationToken cancellationToken);
}

/// <summary>A build step failed. The message names the step and carries the end of its output.</summary>
public sealed class ImageBuildException(string message) : Exception(message);

/// <summary>
/// Builds images as chains of overlay layers on the base image. Each step's layer is the upper directory of an
/// overlay mounted over its parents while the step runs in a runc build container; metadata steps (env, workdir) and
/// file copies are written without a container. A layer's id hashes its parent's id, its step and the contents of its
/// inputs, so an unchanged definition finds every layer on disk, and a changed step rebuilds from there on.
/// </summary>
/// <remarks>
/// A layer is built in a staging directory and renamed into place only when its step succeeded, so a failed or
/// interrupted build never leaves a layer that looks complete. Concurrent requests for the same layer share one build.
/// </remarks>
public sealed class ImageBuilder
{
    private const string Metadata = "layer.json";
    private static readonly TimeSpan StaleAfter = TimeSpan.FromHours(1);
    private readonly string _layers;
    private readonly string _mounts;
    private readonly string _state;
    private readonly BaseImage _baseImage;
    private readonly ContainerNetwork _network;
    private readonly ConcurrentDictionary<string, Lazy<Task<bool>>> _building = new(StringComparer.Ordinal);

    // Build caps: apt and dpkg change owners and modes, apt drops to its _apt user and signals its methods running as
    // it, dpkg sets file capabilities and may make device nodes, and some maintainer scripts chroot. Raw sockets
    // (spoofing on the container network) and changing capability sets are not needed.
    private static readonly string[] BuildCaps =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_SETUID", "CAP_SETGID", "CAP_SETFCAP",
        "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_KILL", "CAP_AUDIT_WRITE", "CAP_NET_BIND_SERVICE",
    ];

    /// <summary>An image store in <paramref name="imagesDir"/> whose build containers run on <paramref name="network"/>.</summary>
    public ImageBuilder(string imagesDir, string stateDir, BaseImage baseImage, ContainerNetwork network)
    {
        _layers = Path.Combine(imagesDir, "layers");
        _mounts = Path.Combine(imagesDir, "mounts");
        _state = stateDir;
        _baseImage = baseImage;
        _network = network;
        Directory.CreateDirectory(_layers);
        Directory.CreateDirectory(_mounts);
        RemoveStale(_layers);
        RemoveStale(_mounts);
    }

    /// <summary>How many layer builds have run, for tests and the registry.</summary>
    public int BuildsRun => _buildsRun;

    private int _buildsRun;

    /// <summary>The id of a step's layer: its parent's id, the step and the hashes of the files it adds.</summary>
    public static string LayerId(string parentId, ImageStep step)
    {
        var text = new StringBuilder(parentId).Append('\n').Append(step.Kind);
        foreach (var arg in step.Args)
        {
            text.Append('\n').Append(arg.Length.ToString(CultureInfo.InvariantCulture)).Append(':').Append(arg);
        }
        foreach (var file in step.Files ?? [])
        {
            text.Append('\n').Append(file.Path).Append('=').Append(file.Hash);
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..32];
    }

    /// <summary>Makes sure every layer of <paramref name="spec"/> exists, building those that do not.</summary>
    /// <exception cref="ImageBuildException">The spec is not valid, or a step failed.</exception>
    public async Task<ResolvedImage> EnsureAsync(ImageSpec? spec, ImageRequest request, Action<string> progress, CancellationToken cancellationToken)
    {
        // The worker builds as root, so it checks what it is handed itself rather than trusting the sender did.
        if (spec is not null && WireValidator.Check(spec) is { } problem)
        {
            throw new ImageBuildException($"The image definition is not valid: {problem}");
        }
        string baseDir;
        try
        {
            baseDir = await _baseImage.EnsureAsync(progress, cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException e)
        {
            throw new ImageBuildException(e.Message);
        }
        var steps = spec?.Steps ?? [];
        var id = Path.GetFileName(_baseImage.Path);
        var lowers = new List<string> { baseDir };
        var env = new List<string>();
        string? workdir = null;
        var mounts = new List<ImageMount>();
        var built = 0;
        var forcing = false;
        var clock = Stopwatch.StartNew();
        var buildSteps = steps.Count(s => !IsMount(s));
        var number = 0;
        foreach (var step in steps)
        {
            if (IsMount(step))
            {
                mounts.Add(await MaterializeMountAsync(step, request, cancellationToken).ConfigureAwait(false));
                continue;
            }
            number++;
            id = LayerId(id, step);
            var force = step.ForceBuild || forcing;
            var context = new StepContext(step, id, number, buildSteps, [.. lowers], [.. env], workdir, force, request, progress);
            var key = force ? $"{id}|force|{request.AppId}" : id;
            var (didBuild, ran) = await ShareAsync(key, () => BuildLayerAsync(context, CancellationToken.None), cancellationToken).ConfigureAwait(false);
            if (didBuild)
            {
                // Only the request that ran the build counts it; the others waited for the same layer.
                built += ran ? 1 : 0;
                forcing |= force;
            }
            switch (step.Kind)
            {
                case ImageStepKinds.Env:
                    env.AddRange(step.Args);
                    break;
                case ImageStepKinds.Workdir:
                    workdir = step.Args[0];
                    break;
            }
            if (Directory.Exists(Path.Combine(LayerDir(id), "fs")))
            {
                lowers.Insert(0, Path.Combine(LayerDir(id), "fs"));
            }
        }
        var imageId = "im-" + id[..Math.Min(12, id.Length)];
        if (built > 0)
        {
            progress($"Image {imageId} ready in {clock.Elapsed.TotalSeconds:0.0} s ({built} of {buildSteps} layers built).");
        }
        return new ResolvedImage(imageId, lowers, env, workdir, mounts, buildSteps, built);
    }

    private static bool IsMount(ImageStep step) => step.Kind == ImageStepKinds.AddLocal && step.Args[2] == "mount";

    private string LayerDir(string id) => Path.Combine(_layers, id);

    internal sealed record StepContext(
        ImageStep Step,
        string Id,
        int Number,
        int Total,
        IReadOnlyList<string> Lowers,
        IReadOnlyList<string> Environment,
        string? Workdir,
        bool Force,
        ImageRequest Request,
        Action<string> Progress)
    {
        public string Title => $"Step {Number}/{Total}: {Describe(Step)}";
    }

    /// <summary>One line for a step, as the build log and the image registry show it. Env steps show names, never values: users put keys there.</summary>
    public static string Describe(ImageStep step) => step.Kind switch
    {
        ImageStepKinds.Env => $"env {string.Join(' ', step.Args.Select(pair => pair.Split('=', 2)[0]))}",
        ImageStepKinds.AddLocal => $"add_local {step.Args[1]} {step.Args[0]} ({step.Files?.Count ?? 0} files, {step.Args[2]})",
        ImageStepKinds.RunFunction => $"run_function {(step.Args.Count > 2 ? step.Args[2] : step.Args[0])}",
        _ => $"{step.Kind} {string.Join(' ', step.Args)}",
    };

    /// <summary>Returns whether it built the layer (false when it was already there).</summary>
    private async Task<bool> BuildLayerAsync(StepContext context, CancellationToken cancellationToken)
    {
        var target = LayerDir(context.Id);
        if (Directory.Exists(target) && (!context.Force || ForcedFor(target) == context.Request.AppId))
        {
            return false;
        }
        var staging = $"{target}.partial-{Guid.NewGuid():N}"[..(target.Length + 17)];
        Directory.CreateDirectory(Path.Combine(staging, "fs"));
        var clock = Stopwatch.StartNew();
        context.Progress($"=> {context.Title}{(context.Force ? " (forced)" : "")}");
        try
        {
            var fs = Path.Combine(staging, "fs");
            switch (context.Step.Kind)
            {
                case ImageStepKinds.Env:
                    // Metadata only: the variables are applied from the definition; the layer holds no files.
                    Directory.Delete(fs);
                    break;
                case ImageStepKinds.Workdir:
                    Directory.CreateDirectory(ConfineInImage(fs, context.Step.Args[0]));
                    break;
                case ImageStepKinds.AddLocal:
                    await CopyFilesAsync(context.Step, fs, context.Request.Blobs, cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    await RunInContainerAsync(context, staging, cancellationToken).ConfigureAwait(false);
                    break;
            }
            await File.WriteAllTextAsync(Path.Combine(staging, Metadata), new JsonObject
            {
                ["id"] = context.Id,
                ["step"] = Describe(context.Step),
                ["builtAt"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
                ["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 3),
                ["forcedFor"] = context.Force ? context.Request.AppId : null,
            }.ToJsonString(), cancellationToken).ConfigureAwait(false);
            Publish(staging, target, context.Force);
        }
        catch
        {
            await RemoveAsync(staging).ConfigureAwait(false);
            throw;
        }
        Interlocked.Increment(ref _buildsRun);
        context.Progress($"   done in {clock.Elapsed.TotalSeconds:0.0} s");
        return true;
    }

    /// <summary>Moves a finished layer into place. A forced rebuild sets the old layer aside rather than deleting it under running containers.</summary>
    private static void Publish(string staging, string target, bool replace)
    {
        if (replace && Directory.Exists(target))
        {
            Directory.Move(target, $"{target}.trash-{Guid.NewGuid():N}"[..(target.Length + 15)]);
        }
        try
        {
            Directory.Move(staging, target);
        }
        catch (IOException) when (Directory.Exists(target))
        {
            // Another worker sharing this directory built the same layer first; its layer is as good as ours.
            Directory.Delete(staging, recursive: true);
        }
    }

    private static string? ForcedFor(string layer)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(Path.Combine(layer, Metadata)))?["forcedFor"]?.GetValue<string>();
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return null;
        }
    }

    private static async Task CopyFilesAsync(ImageStep step, string root, IBlobSource blobs, CancellationToken cancellationToken)
    {
        var destination = ConfineInImage(root, step.Args[0]);
        foreach (var file in step.Files ?? [])
        {
            var path = step.Args[1] == "file" ? destination : Confine(destination, file.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await blobs.DownloadAsync(file.Hash, path, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Where a file at <paramref name="relative"/> goes under <paramref name="root"/>, strictly inside it.</summary>
    /// <exception cref="ImageBuildException">The path is absolute, climbs out with <c>..</c>, passes a link, or is the root itself.</exception>
    internal static string Confine(string root, string relative) =>
        ConfinedPath.Resolve(root, relative) is { } path && path != Path.TrimEndingDirectorySeparator(Path.GetFullPath(root))
            ? path
            : throw new ImageBuildException($"The file path '{relative}' leaves its directory; the step was refused.");

    /// <summary>Where the container path <paramref name="containerPath"/> is in the image filesystem <paramref name="root"/>.</summary>
    /// <exception cref="ImageBuildException">The path is not absolute, or leaves the image by <c>..</c> or a link.</exception>
    internal static string ConfineInImage(string root, string containerPath) =>
        ConfinedPath.ResolveInImage(root, containerPath)
            ?? throw new ImageBuildException($"The container path '{containerPath}' is not an absolute path inside the image; the step was refused.");

    /// <summary>
    /// Runs <paramref name="work"/> once for everyone asking under <paramref name="key"/> at the same time. The work
    /// outlives a request that gives up waiting, since others may be waiting for it; a failure left by a request that
    /// has gone is retried rather than handed on. <c>Ran</c> is true for the request whose work ran.
    /// </summary>
    private async Task<(bool Result, bool Ran)> ShareAsync(string key, Func<Task<bool>> work, CancellationToken cancellationToken)
    {
        var mine = new Lazy<Task<bool>>(work);
        var lazy = _building.GetOrAdd(key, mine);
        if (!ReferenceEquals(lazy, mine) && lazy.IsValueCreated && lazy.Value.IsFaulted && _building.TryUpdate(key, mine, lazy))
        {
            lazy = mine;
        }
        try
        {
            return (await lazy.Value.WaitAsync(cancellationToken).ConfigureAwait(false), ReferenceEquals(lazy, mine));
        }
        finally
        {
            if (lazy.Value.IsCompleted)
            {
                _building.TryRemove(new KeyValuePair<string, Lazy<Task<bool>>>(key, lazy));
            }
        }
    }

    /// <summary>Mounted files live in a directory named by the hash of their manifest, shared by every container.</summary>
    private async Task<ImageMount> MaterializeMountAsync(ImageStep step, ImageRequest request, CancellationToken cancellationToken)
    {
        var key = LayerId("mount", step with { Args = ["", step.Args[1], ""] });
        var dir = Path.Combine(_mounts, key);
        if (!Directory.Exists(dir))
        {
            await ShareAsync("mount|" + key, async () =>
            {
                if (Directory.Exists(dir))
                {
                    return false;
                }
                var staging = $"{dir}.partial-{Guid.NewGuid():N}"[..(dir.Length + 17)];
                Directory.CreateDirectory(staging);
                try
                {
                    foreach (var file in step.Files ?? [])
                    {
                        var path = Confine(staging, file.Path);
                        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                        await request.Blobs.DownloadAsync(file.Hash, path, CancellationToken.None).ConfigureAwait(false);
                    }
                    Publish(staging, dir, replace: false);
                }
                catch
                {
                    await RemoveAsync(staging).ConfigureAwait(false);
                    throw;
                }
                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        var source = step.Args[1] == "file" ? Confine(dir, step.Files![0].Path) : dir;
        if (!WireRules.IsContainerPath(step.Args[0]))
        {
            throw new ImageBuildException($"The container path '{step.Args[0]}' is not an absolute path inside the image; the step was refused.");
        }
        return new ImageMount(source, step.Args[0]);
    }

    private async Task RunInContainerAsync(StepContext context, string staging, CancellationToken cancellationToken)
    {
        var rootfs = Path.Combine(staging, "rootfs");
        var work = Path.Combine(staging, "work");
        Directory.CreateDirectory(rootfs);
        Directory.CreateDirectory(work);
        var name = "build-" + Guid.NewGuid().ToString("N")[..12];
        // The build's network is set up while its root is mounted.
        var attaching = _network.AttachAsync(name, cancellationToken);
        var mounting = Processes.RunAsync("mount", ["-t", "overlay", "overlay", "-o",
            OverlayOptions(context.Lowers, Path.Combine(staging, "fs"), work), rootfs], cancellationToken);
        try
        {
            await Task.WhenAll(attaching, mounting).ConfigureAwait(false);
        }
        catch
        {
            _network.Detach(attaching.IsCompletedSuccessfully ? await attaching.ConfigureAwait(false) : null);
            if (mounting.IsCompletedSuccessfully && (await mounting.ConfigureAwait(false)).Code == 0)
            {
                await Processes.RunAsync("umount", [rootfs], CancellationToken.None).ConfigureAwait(false);
            }
            throw;
        }
        // Both have finished: the awaits below only unwrap their results.
        var network = await attaching.ConfigureAwait(false);
        var (code, text) = await mounting.ConfigureAwait(false);
        if (code != 0)
        {
            _network.Detach(network);
            throw new ImageBuildException($"{context.Title} could not mount its root filesystem: {text.Trim()}");
        }
        try
        {
            await File.WriteAllTextAsync(Path.Combine(staging, "config.json"), BuildConfig(context, name, network).ToJsonString(), cancellationToken).ConfigureAwait(false);
            var tail = new Queue<string>();
            var info = new ProcessStartInfo("runc")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
            };
            foreach (var arg in new[] { "--root", _state, "run", "--bundle", staging, name })
            {
                info.ArgumentList.Add(arg);
            }
            using var process = new Process { StartInfo = info };
            void OnLine(object sender, DataReceivedEventArgs e)
            {
                // dpkg counts through its database in 5% steps; the lines say nothing a reader needs.
                if (e.Data is not { } line || (line.StartsWith("(Reading database ... ", StringComparison.Ordinal) && line.EndsWith('%')))
                {
                    return;
                }
                lock (tail)
                {
                    tail.Enqueue(line);
                    if (tail.Count > 40)
                    {
                        tail.Dequeue();
                    }
                }
                context.Progress("   " + line);
            }
            process.OutputDataReceived += OnLine;
            process.ErrorDataReceived += OnLine;
            Directory.CreateDirectory(_state);
            process.Start();
            process.StandardInput.Close();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                await Processes.RunAsync("runc", ["--root", _state, "kill", name, "KILL"], CancellationToken.None).ConfigureAwait(false);
                throw;
            }
            if (process.ExitCode != 0)
            {
                string output;
                lock (tail)
                {
                    output = string.Join(Environment.NewLine, tail);
                }
                throw new ImageBuildException(
                    $"The image build failed at {context.Title} (exit code {process.ExitCode}). Nothing of this step was kept. Its last output:{Environment.NewLine}{output}");
            }
        }
        finally
        {
            await Processes.RunAsync("runc", ["--root", _state, "delete", "-f", name], CancellationToken.None).ConfigureAwait(false);
            _network.Detach(network);
            await Processes.RunAsync("umount", [rootfs], CancellationToken.None).ConfigureAwait(false);
            await RemoveAsync(work).ConfigureAwait(false);
            Directory.Delete(rootfs);
            File.Delete(Path.Combine(staging, "config.json"));
        }
    }

    /// <summary>
    /// The overlay mount options for layers stacked top first. The kernel takes at most one page of options, which
    /// bounds how many layers an image can have; past it the error says what to do rather than letting mount fail.
    /// </summary>
    public static string OverlayOptions(IReadOnlyList<string> lowers, string upper, string work)
    {
        var options = $"lowerdir={string.Join(':', lowers)},upperdir={upper},workdir={work}";
        if (options.Length >= 4000)
        {
            throw new ImageBuildException(
                $"The image has {lowers.Count - 1} layers, more than an overlay mount can stack here. Combine steps: one RunCommands or AptInstall can take many commands or packages.");
        }
        return options;
    }

    /// <summary>The shell script of a step that runs in a build container.</summary>
    internal static string Script(ImageStep step)
    {
        var script = new StringBuilder("set -e\n");
        switch (step.Kind)
        {
            case ImageStepKinds.AptInstall:
                var packages = string.Join(' ', step.Args.Select(Quote));
                // The base image's package lists may be older than the mirror; refresh them only when a download fails.
                script.Append("set -o pipefail\nexport DEBIAN_FRONTEND=noninteractive\n")
                    .Append("install() { apt-get install -y -q --no-install-recommends ").Append(packages).Append(" 2>&1 | tee /tmp/apt.log; }\n")
                    .Append("if ! install; then\n")
                    .Append("  grep -q -e 'Failed to fetch' -e 'Unable to fetch' /tmp/apt.log || exit 100\n")
                    .Append("  echo 'Refreshing the package lists and retrying.'\n")
                    .Append("  apt-get update -q\n  install\nfi\napt-get clean\n");
                break;
            case ImageStepKinds.RunCommands:
                foreach (var command in step.Args)
                {
                    script.Append("printf '%s\\n' ").Append(Quote("$ " + command)).Append('\n').Append(command).Append('\n');
                }
                break;
            case ImageStepKinds.RunFunction:
                script.Append("exec dotnet \"/app/$FERRY_ENTRY_ASSEMBLY\"\n");
                break;
            default:
                throw new ImageBuildException($"Unknown image step '{step.Kind}'. Is the worker older than the SDK?");
        }
        return script.ToString();
    }

    private static string Quote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>The OCI config of a build step's container; with no <paramref name="network"/>, it shares the host's network namespace.</summary>
    internal static JsonObject BuildConfig(StepContext context, string hostname, NetworkAttachment? network)
    {
        var dotnet = RuncRuntime.DotnetDir();
        var env = new List<string> { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:" + dotnet, "HOME=/root", "LANG=C.UTF-8" };
        env.AddRange(context.Environment);
        var mounts = new List<OciMount> { OciMount.Resolver(network) };
        if (context.Step.Kind == ImageStepKinds.RunFunction)
        {
            mounts.Add(OciMount.ReadOnlyTree(dotnet, dotnet));
            mounts.Add(OciMount.ReadOnlyTree("/app", context.Request.BuildDir));
            env.Add($"{FerryEnv.Mode}={FerryModes.ImageBuild}");
            env.Add($"{FerryEnv.Function}={context.Step.Args[0]}");
            env.Add($"FERRY_ENTRY_ASSEMBLY={context.Request.EntryAssembly}");
            env.Add($"DOTNET_ROOT={dotnet}");
            env.Add("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1");
            env.Add("DOTNET_CLI_TELEMETRY_OPTOUT=1");
        }
        // No cpu or memory limit and no devices; its own network namespace like every container, as builds download
        // packages through NAT.
        return new OciSpec
        {
            Hostname = hostname,
            Args = ["/bin/bash", "-c", Script(context.Step)],
            Env = env,
            Cwd = context.Workdir ?? "/",
            Capabilities = BuildCaps,
            Network = network,
            Mounts = mounts,
            PidsLimit = 4096,
        }.ToJson();
    }

    private static async Task RemoveAsync(string dir)
    {
        if (!Directory.Exists(dir))
        {
            return;
        }
        // rm copes with what Directory.Delete does not: the overlay work dir's root-only subdirectory and device-node whiteouts.
        await Processes.RunAsync("rm", ["-rf", "--one-file-system", dir], CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Removes what a crashed worker left: unfinished builds and layers set aside by forced rebuilds.</summary>
    private static void RemoveStale(string dir)
    {
        foreach (var entry in Directory.EnumerateDirectories(dir))
        {
            var name = Path.GetFileName(entry);
            if ((name.Contains(".partial-", StringComparison.Ordinal) || name.Contains(".trash-", StringComparison.Ordinal))
                && DateTime.UtcNow - Directory.GetLastWriteTimeUtc(entry) > StaleAfter)
            {
                _ = Task.Run(async () =>
                {
                    // A build the worker was killed in still has its root mounted.
                    await Processes.RunAsync("umount", ["-l", Path.Combine(entry, "rootfs")], CancellationToken.None).ConfigureAwait(false);
                    await RemoveAsync(entry).ConfigureAwait(false);
                });
            }
        }
    }
}
