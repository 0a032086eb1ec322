using System.Text.Json.Nodes;

namespace Ferry.Worker.Runtimes.Runc;

/// <summary>
/// What one runc container, a function's, a session's or an image build step's, is given, from which
/// <see cref="ToJson"/> writes its OCI <c>config.json</c>. Every container gets the same kernel filesystems, private
/// <c>/tmp</c>, namespaces, seccomp filter, masked and read-only paths, file limit and no new privileges; what differs
/// between kinds of container is data here.
/// </summary>
internal sealed record OciSpec
{
    /// <summary>The container's hostname; its cgroup is named after it too.</summary>
    public required string Hostname { get; init; }

    /// <summary>The command the container runs.</summary>
    public required IReadOnlyList<string> Args { get; init; }

    /// <summary>The process environment, <c>KEY=value</c>, in order.</summary>
    public required IReadOnlyList<string> Env { get; init; }

    /// <summary>The process's working directory.</summary>
    public required string Cwd { get; init; }

    /// <summary>The capabilities the process keeps, in all of its sets.</summary>
    public required IReadOnlyList<string> Capabilities { get; init; }

    /// <summary>The network namespace the worker made for the container; null shares the host's.</summary>
    public required NetworkAttachment? Network { get; init; }

    /// <summary>The size limit of the container's <c>/tmp</c>, as a tmpfs <c>size=</c> value; null for tmpfs's default.</summary>
    public string? TmpSize { get; init; }

    /// <summary>Mounts after the kernel filesystems and <c>/tmp</c>, in order.</summary>
    public IReadOnlyList<OciMount> Mounts { get; init; } = [];

    /// <summary>Device nodes bind-mounted after <see cref="Mounts"/> and allowed in the device cgroup; none by default.</summary>
    public IReadOnlyList<DeviceNode> Devices { get; init; } = [];

    /// <summary>The cgroup's pids limit.</summary>
    public required int PidsLimit { get; init; }

    /// <summary>The memory limit, which is the memory plus swap limit too, so nothing swaps; null for none.</summary>
    public long? MemoryBytes { get; init; }

    /// <summary>How many CPUs' time the container may use; null for no limit.</summary>
    public double? Cpus { get; init; }

    /// <summary>The cgroup's CPU shares (its weight against other containers when CPUs are busy); null for the default, 1024.</summary>
    public long? CpuShares { get; init; }

    /// <summary>The container's OCI config.</summary>
    public JsonObject ToJson()
    {
        var mounts = new JsonArray(
            Mount("/proc", "proc", "proc"),
            Mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
            Mount("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"),
            Mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
            Mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
            TmpSize is { } size
                ? Mount("/tmp", "tmpfs", "tmpfs", "nosuid", "nodev", "mode=1777", "size=" + size)
                : Mount("/tmp", "tmpfs", "tmpfs", "nosuid", "nodev", "mode=1777"));
        foreach (var mount in Mounts)
        {
            mounts.Add(Mount(mount.Destination, mount.Type, mount.Source, [.. mount.Options]));
        }
        // Deny every device but the defaults runc always allows: a container may make device nodes, but not open them.
        var devices = new JsonArray(new JsonObject { ["allow"] = false, ["access"] = "rwm" });
        foreach (var node in Devices)
        {
            mounts.Add(Mount(node.Path, "bind", node.Path, "bind"));
            devices.Add(new JsonObject { ["allow"] = true, ["type"] = "c", ["major"] = node.Major, ["minor"] = node.Minor, ["access"] = "rwm" });
        }
        var resources = new JsonObject { ["pids"] = new JsonObject { ["limit"] = PidsLimit } };
        if (MemoryBytes is { } memory)
        {
            resources["memory"] = new JsonObject { ["limit"] = memory, ["swap"] = memory };
        }
        if (Cpus is not null || CpuShares is not null)
        {
            var cpu = new JsonObject();
            if (CpuShares is { } shares)
            {
                cpu["shares"] = shares;
            }
            if (Cpus is { } cpus)
            {
                cpu["quota"] = (long)Math.Round(cpus * 100_000);
                cpu["period"] = 100_000;
            }
            resources["cpu"] = cpu;
        }
        resources["devices"] = devices;
        return new JsonObject
        {
            ["ociVersion"] = "1.0.2",
            ["process"] = new JsonObject
            {
                ["terminal"] = false,
                ["user"] = new JsonObject { ["uid"] = 0, ["gid"] = 0 },
                ["args"] = Strings(Args),
                ["env"] = Strings(Env),
                ["cwd"] = Cwd,
                ["capabilities"] = new JsonObject
                {
                    ["bounding"] = Strings(Capabilities),
                    ["effective"] = Strings(Capabilities),
                    ["permitted"] = Strings(Capabilities),
                    ["ambient"] = Strings(Capabilities),
                },
                ["rlimits"] = new JsonArray(new JsonObject { ["type"] = "RLIMIT_NOFILE", ["hard"] = 4096, ["soft"] = 4096 }),
                ["noNewPrivileges"] = true,
            },
            ["root"] = new JsonObject { ["path"] = "rootfs", ["readonly"] = false },
            ["hostname"] = Hostname,
            ["mounts"] = mounts,
            ["linux"] = new JsonObject
            {
                ["cgroupsPath"] = $"/{CgroupParent}/{Hostname}",
                ["resources"] = resources,
                ["namespaces"] = Namespaces(Network),
                ["maskedPaths"] = Strings(Hardening.MaskedPaths),
                ["readonlyPaths"] = Strings(Hardening.ReadonlyPaths),
                ["seccomp"] = Hardening.Seccomp(),
            },
        };
    }

    /// <summary>The cgroup every container's cgroup is made in.</summary>
    public const string CgroupParent = "ferry";

    /// <summary>PID, IPC, UTS and mount namespaces of its own, and the network namespace the worker made for it.</summary>
    private static JsonArray Namespaces(NetworkAttachment? network)
    {
        var namespaces = new JsonArray(
            new JsonObject { ["type"] = "pid" },
            new JsonObject { ["type"] = "ipc" },
            new JsonObject { ["type"] = "uts" },
            new JsonObject { ["type"] = "mount" });
        if (network is not null)
        {
            namespaces.Add(new JsonObject { ["type"] = "network", ["path"] = network.NamespacePath });
        }
        return namespaces;
    }

    internal static JsonArray Strings(IEnumerable<string> values) => new([.. values.Select(v => (JsonNode)v)]);

    private static JsonObject Mount(string destination, string type, string source, params string[] options)
    {
        var mount = new JsonObject { ["destination"] = destination, ["type"] = type, ["source"] = source };
        if (options.Length > 0)
        {
            mount["options"] = Strings(options);
        }
        return mount;
    }
}

/// <summary>A mount of an <see cref="OciSpec"/>.</summary>
/// <param name="Destination">Where it appears in the container.</param>
/// <param name="Type">The filesystem type; <c>bind</c> for binds.</param>
/// <param name="Source">The host path, or the filesystem's source name.</param>
/// <param name="Options">Its mount options.</param>
internal sealed record OciMount(string Destination, string Type, string Source, IReadOnlyList<string> Options)
{
    /// <summary>A read-only, recursive bind of a host tree, such as .NET, the build or an image mount.</summary>
    public static OciMount ReadOnlyTree(string destination, string source) =>
        new(destination, "bind", source, ["rbind", "ro", "nosuid", "nodev"]);

    /// <summary>A read-only bind of one file.</summary>
    public static OciMount ReadOnlyFile(string destination, string source) => new(destination, "bind", source, ["bind", "ro"]);

    /// <summary>The container's own cgroup hierarchies at <c>/sys/fs/cgroup</c>, read-only.</summary>
    public static OciMount Cgroups { get; } = new("/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", "ro"]);

    /// <summary>The resolver configuration: the network's, or the host's where the container shares the host's network.</summary>
    public static OciMount Resolver(NetworkAttachment? network) => ReadOnlyFile("/etc/resolv.conf", network?.ResolvConf ?? "/etc/resolv.conf");
}
