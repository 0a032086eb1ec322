using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Ferry.Protocol;
using Ferry.Worker.Runtimes.Runc;

namespace Ferry.Worker.Images;

/// <summary>
/// Runs the steps that need the image's own programs (apt_install, run_commands, run_function) in a runc build
/// container, whose root is an overlay of the layers below the step with the layer being built as its upper directory.
/// </summary>
internal sealed class BuildContainer(string stateDir, ContainerNetwork network)
{
    // Build caps: apt and dpkg change owners and modes, apt drops to its _apt user and signals its methods running as
    // it, dpkg sets file capabilities and may make device nodes, and some maintainer scripts chroot. Raw sockets
    // (spoofing on the container network) and changing capability sets are not needed.
    private static readonly string[] BuildCaps =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_SETUID", "CAP_SETGID", "CAP_SETFCAP",
        "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_KILL", "CAP_AUDIT_WRITE", "CAP_NET_BIND_SERVICE",
    ];

    /// <summary>Runs the step of <paramref name="context"/> with the layer's staging directory as its runc bundle.</summary>
    /// <exception cref="ImageBuildException">The root could not be mounted, or the step exited with an error.</exception>
    public async Task RunAsync(StepContext context, string staging, CancellationToken cancellationToken)
    {
        var rootfs = Path.Combine(staging, "rootfs");
        var work = Path.Combine(staging, "work");
        Directory.CreateDirectory(rootfs);
        Directory.CreateDirectory(work);
        var name = "build-" + Guid.NewGuid().ToString("N")[..12];
        // The build's network is set up while its root is mounted.
        var attaching = network.AttachAsync(name, cancellationToken);
        var mounting = Processes.RunAsync("mount", ["-t", "overlay", "overlay", "-o",
            OverlayMount.Options(context.Lowers, Path.Combine(staging, "fs"), work), rootfs], cancellationToken);
        try
        {
            await Task.WhenAll(attaching, mounting).ConfigureAwait(false);
        }
        catch
        {
            network.Detach(attaching.IsCompletedSuccessfully ? await attaching.ConfigureAwait(false) : null);
            if (mounting.IsCompletedSuccessfully && (await mounting.ConfigureAwait(false)).Code == 0)
            {
                await Processes.RunAsync("umount", [rootfs], CancellationToken.None).ConfigureAwait(false);
            }
            throw;
        }
        // Both have finished: the awaits below only unwrap their results.
        var attachment = await attaching.ConfigureAwait(false);
        var (code, text) = await mounting.ConfigureAwait(false);
        if (code != 0)
        {
            network.Detach(attachment);
            throw new ImageBuildException($"{context.Title} could not mount its root filesystem: {text.Trim()}");
        }
        try
        {
            await File.WriteAllTextAsync(Path.Combine(staging, "config.json"), Config(context, name, attachment).ToJsonString(), cancellationToken).ConfigureAwait(false);
            var tail = new Queue<string>();
            var info = new ProcessStartInfo("runc")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
            };
            foreach (var arg in new[] { "--root", stateDir, "run", "--bundle", staging, name })
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
            Directory.CreateDirectory(stateDir);
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
                await Processes.RunAsync("runc", ["--root", stateDir, "kill", name, "KILL"], CancellationToken.None).ConfigureAwait(false);
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
            await Processes.RunAsync("runc", ["--root", stateDir, "delete", "-f", name], CancellationToken.None).ConfigureAwait(false);
            network.Detach(attachment);
            await Processes.RunAsync("umount", [rootfs], CancellationToken.None).ConfigureAwait(false);
            await LayerStore.RemoveAsync(work).ConfigureAwait(false);
            Directory.Delete(rootfs);
            File.Delete(Path.Combine(staging, "config.json"));
        }
    }

    /// <summary>The shell script of a step that runs in a build container.</summary>
    /// <exception cref="ImageBuildException">The step is of a kind this worker does not know.</exception>
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

    /// <summary>The OCI config of a build step's container; with no <paramref name="network"/>, it shares the host's network namespace.</summary>
    internal static JsonObject Config(StepContext context, string hostname, NetworkAttachment? network)
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

    private static string Quote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
