using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace Ferry.Worker.Runtimes.Runc;

/// <summary>
/// What every runc container, function, session and image build alike, is denied beyond its namespaces and
/// capabilities: a seccomp filter over the syscalls that manage the kernel, the machine or other processes, and the
/// <c>/proc</c> and <c>/sys</c> paths that are masked or read-only.
/// </summary>
internal static class Hardening
{
    private const int Eperm = 1;
    private const int Enosys = 38;

    /// <summary>
    /// Syscalls that fail with EPERM: those Docker's default profile refuses to a container without extra
    /// capabilities, which an ordinary program or package install never makes. Names libseccomp does not know for an
    /// architecture (<c>stime</c> on x86-64, say) are skipped by runc.
    /// </summary>
    public static readonly IReadOnlyList<string> BlockedSyscalls =
    [
        // Kernel code and the machine itself.
        "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "create_module",
        "get_kernel_syms", "query_module", "reboot", "swapon", "swapoff", "acct", "syslog", "settimeofday",
        "clock_settime", "clock_adjtime", "stime", "iopl", "ioperm", "nfsservctl", "uselib", "ustat", "sysfs",
        "_sysctl", "vm86", "vm86old", "lookup_dcookie", "quotactl", "quotactl_fd",
        // Mounts and namespaces, in the old and the new mount API: a container's view of the filesystem is fixed.
        "mount", "umount", "umount2", "pivot_root", "unshare", "setns", "fsopen", "fsconfig", "fsmount", "fspick",
        "move_mount", "open_tree", "mount_setattr",
        // Other processes' memory and the kernel's attack surface.
        "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "bpf", "perf_event_open",
        "userfaultfd", "keyctl", "add_key", "request_key", "open_by_handle_at", "name_to_handle_at",
        "io_uring_setup", "io_uring_enter", "io_uring_register",
    ];

    /// <summary>
    /// The namespace flags <c>clone</c> may not carry, so that blocking <c>unshare</c> is not undone by a clone into a
    /// new user namespace.
    /// </summary>
    private static readonly long[] NamespaceFlags =
    [
        0x00020000, // CLONE_NEWNS
        0x02000000, // CLONE_NEWCGROUP
        0x04000000, // CLONE_NEWUTS
        0x08000000, // CLONE_NEWIPC
        0x10000000, // CLONE_NEWUSER
        0x20000000, // CLONE_NEWPID
        0x40000000, // CLONE_NEWNET
    ];

    /// <summary>runc's default masked paths, plus what Docker masks since: sound cards, interrupt counts and RAPL energy counters.</summary>
    public static readonly IReadOnlyList<string> MaskedPaths =
    [
        "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ];

    /// <summary>runc's default read-only paths.</summary>
    public static readonly IReadOnlyList<string> ReadonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

    /// <summary>The OCI <c>linux.seccomp</c> object: allow by default, refuse the syscalls above.</summary>
    public static JsonObject Seccomp()
    {
        var syscalls = new JsonArray(
            new JsonObject { ["names"] = OciSpec.Strings(BlockedSyscalls), ["action"] = "SCMP_ACT_ERRNO", ["errnoRet"] = Eperm },
            // clone3 passes its flags in memory, where seccomp cannot look; ENOSYS makes glibc fall back to clone.
            new JsonObject { ["names"] = new JsonArray("clone3"), ["action"] = "SCMP_ACT_ERRNO", ["errnoRet"] = Enosys });
        foreach (var flag in NamespaceFlags)
        {
            // One rule per flag: the rules of a syscall are alternatives, so any one flag is refused.
            syscalls.Add(new JsonObject
            {
                ["names"] = new JsonArray("clone"),
                ["action"] = "SCMP_ACT_ERRNO",
                ["errnoRet"] = Eperm,
                ["args"] = new JsonArray(new JsonObject { ["index"] = 0, ["value"] = flag, ["valueTwo"] = flag, ["op"] = "SCMP_CMP_MASKED_EQ" }),
            });
        }
        return new JsonObject
        {
            ["defaultAction"] = "SCMP_ACT_ALLOW",
            ["architectures"] = OciSpec.Strings(Architectures()),
            ["syscalls"] = syscalls,
        };
    }

    /// <summary>The native architecture and the compatible ones a process could switch to, so none escapes the filter.</summary>
    private static string[] Architectures() => RuntimeInformation.OSArchitecture switch
    {
        Architecture.Arm64 => ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        _ => ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    };
}
