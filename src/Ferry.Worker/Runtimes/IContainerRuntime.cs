using Ferry.Protocol;

namespace Ferry.Worker.Runtimes;

/// <summary>Everything a runtime needs to start one container.</summary>
/// <param name="ContainerId">The control plane's id for the container.</param>
/// <param name="BuildDir">The directory holding the user's built program.</param>
/// <param name="EntryAssembly">The program's main assembly, relative to <paramref name="BuildDir"/>.</param>
/// <param name="Environment">Variables that tell the program how to reach the control plane.</param>
/// <param name="Settings">The function's resources, limits and image.</param>
/// <param name="GpuIndices">The GPUs reserved for this container.</param>
/// <param name="AppId">The app the container belongs to.</param>
/// <param name="Blobs">Where the files that images add come from.</param>
/// <param name="ImageReady">Told when the container's image is ready, and whether it was built or cached.</param>
/// <param name="Command">Runs this instead of the program, as <c>ferry shell</c> does.</param>
/// <param name="Volumes">The container's copies of the volumes it mounts, for a runtime that mounts them (<see cref="IContainerRuntime.MountsVolumes"/>).</param>
/// <param name="VolumeStateDir">The host directory that holds the copies' state files, which such a runtime shows the container at <see cref="VolumeMountPaths.StateDir"/>.</param>
public sealed record ContainerSpec(
    string ContainerId,
    string BuildDir,
    string EntryAssembly,
    IReadOnlyDictionary<string, string> Environment,
    FunctionSettings Settings,
    IReadOnlyList<int> GpuIndices,
    string AppId = "",
    Images.IBlobSource? Blobs = null,
    Action<Images.ResolvedImage, TimeSpan>? ImageReady = null,
    IReadOnlyList<string>? Command = null,
    IReadOnlyList<Volumes.PreparedVolume>? Volumes = null,
    string? VolumeStateDir = null);

/// <summary>Where a runtime that mounts volumes shows a container the state of its copies.</summary>
public static class VolumeMountPaths
{
    /// <summary>The container path of the copies' state files; under a path no volume may be mounted at.</summary>
    public const string StateDir = "/run/ferry/volumes";
}

/// <summary>Why and how a container ended.</summary>
/// <param name="ExitCode">The process's exit code, or 128 + signal.</param>
/// <param name="Reason">One of <see cref="ErrorKinds"/>, or <c>stopped</c> when it was asked to stop.</param>
/// <param name="Detail">A human-readable account, such as the last lines of stderr.</param>
public sealed record ContainerExit(int ExitCode, string Reason, string? Detail);

/// <summary>A started container.</summary>
public interface IContainerHandle : IAsyncDisposable
{
    string ContainerId { get; }

    /// <summary>Completes when the container has ended and its resources are released.</summary>
    Task<ContainerExit> Exited { get; }

    /// <summary>Asks the container to stop (SIGTERM), and kills it after <paramref name="grace"/>.</summary>
    Task StopAsync(TimeSpan grace);

    /// <summary>
    /// The container's own address, reachable from this host, when it has a network namespace of its own; null when it
    /// shares the host's network (then its servers listen on host loopback ports the worker chose).
    /// </summary>
    System.Net.IPAddress? Address => null;
}

/// <summary>A line a container wrote.</summary>
public delegate void ContainerOutputHandler(string containerId, string stream, string text);

/// <summary>
/// Starts containers. Implementations differ in isolation: a plain process, or an OCI container. The worker owns its
/// runtime and disposes it after stopping the containers, which releases what the runtime set up for them.
/// </summary>
public interface IContainerRuntime : IAsyncDisposable
{
    /// <summary>The runtime's name as reported to the control plane.</summary>
    string Name { get; }

    /// <summary>What this runtime can do; the worker warns about, or refuses, what a function asks for beyond it.</summary>
    RuntimeCapabilities Capabilities { get; }

    /// <summary>
    /// The URL this runtime's containers use to reach the control plane that the worker reaches at
    /// <paramref name="serverUrl"/>: the same URL where containers share the worker's network, or an endpoint the
    /// runtime provides where they do not (runc's relay on the container network).
    /// </summary>
    /// <exception cref="InvalidOperationException">The runtime could not provide the endpoint.</exception>
    Task<Uri> GetContainerServerUrlAsync(Uri serverUrl, CancellationToken cancellationToken);

    /// <summary>Whether each container gets a network namespace of its own, so its servers may use any port.</summary>
    bool OwnNetwork => false;

    /// <summary>
    /// Whether the runtime mounts a function's volumes at the paths it asked for (<see cref="ContainerSpec.Volumes"/>);
    /// where it cannot, the container is told the copies' host directories instead.
    /// </summary>
    bool MountsVolumes => false;

    Task<IContainerHandle> StartAsync(ContainerSpec spec, ContainerOutputHandler output, CancellationToken cancellationToken);
}

/// <summary>A command whose raw input and output a session relays; disposing it ends the command and cleans up.</summary>
public interface ISessionProcess : IAsyncDisposable
{
    System.Diagnostics.Process Process { get; }
}

/// <summary>A runtime that can run commands in sessions: inside a running container, or in a new one.</summary>
public interface ISessionRuntime
{
    /// <summary>Runs <paramref name="command"/> inside the running container <paramref name="containerId"/>.</summary>
    Task<ISessionProcess> ExecAsync(string containerId, IReadOnlyList<string> command, CancellationToken cancellationToken);

    /// <summary>Starts a container for <paramref name="spec"/> that runs its <see cref="ContainerSpec.Command"/>.</summary>
    Task<ISessionProcess> StartSessionAsync(ContainerSpec spec, Action<string> progress, CancellationToken cancellationToken);
}
