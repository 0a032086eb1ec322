namespace Ferry.Worker.Runtimes;

/// <summary>What a container runtime can do, so the worker branches on abilities rather than on which runtime it has.</summary>
/// <param name="Isolation">Containers have their own filesystem, namespaces, network and seccomp filter.</param>
/// <param name="Images">A function's image (base image and build steps) is built and used as the container's root.</param>
/// <param name="ResourceLimits">A function's Cpu and Memory become limits the kernel enforces.</param>
/// <param name="Gpus">A container sees only the device nodes of the GPUs reserved for it.</param>
/// <param name="Checkpoint">Containers can start from memory snapshots.</param>
/// <param name="Sessions">Commands can run in a running container (exec) or in a new one (shell); such a runtime is an <see cref="ISessionRuntime"/>.</param>
public sealed record RuntimeCapabilities(bool Isolation, bool Images, bool ResourceLimits, bool Gpus, bool Checkpoint, bool Sessions)
{
    /// <summary>None: a plain process on the host.</summary>
    public static readonly RuntimeCapabilities None = new(false, false, false, false, false, false);
}
