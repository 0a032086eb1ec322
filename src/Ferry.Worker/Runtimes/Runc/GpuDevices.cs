using System.Runtime.InteropServices;

namespace Ferry.Worker.Runtimes.Runc;

/// <summary>A character device node a container may use.</summary>
public sealed record DeviceNode(string Path, long Major, long Minor);

/// <summary>
/// The device nodes that make reserved GPUs usable in a container: <c>/dev/nvidia&lt;N&gt;</c> for each reserved GPU
/// and the driver's shared control nodes. Only nodes that exist on the host are exposed, so a worker with a configured
/// (fake) inventory still starts its containers, with just the <c>CUDA_VISIBLE_DEVICES</c> naming.
/// </summary>
public static partial class GpuDevices
{
    private static readonly string[] ControlNodes = ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"];

    /// <summary>The nodes for <paramref name="indices"/>; <paramref name="stat"/> gives a node's numbers, or null when it is missing.</summary>
    public static IReadOnlyList<DeviceNode> For(IReadOnlyList<int> indices, Func<string, (long Major, long Minor)?> stat)
    {
        if (indices.Count == 0)
        {
            return [];
        }
        var nodes = new List<DeviceNode>();
        foreach (var path in indices.Select(i => $"/dev/nvidia{i}").Concat(ControlNodes))
        {
            if (stat(path) is { } numbers)
            {
                nodes.Add(new DeviceNode(path, numbers.Major, numbers.Minor));
            }
        }
        return nodes;
    }

    /// <summary>A character device's major and minor numbers, or null when <paramref name="path"/> is no such device.</summary>
    public static (long Major, long Minor)? Stat(string path)
    {
        // statx(2) rather than a `stat` child process per node: nothing in the base library reads a device's numbers,
        // and statx's buffer has one layout on every architecture (fields in native byte order).
        var buffer = new byte[StatxSize];
        if (Statx(AtCurrentDirectory, path, 0, StatxType, buffer) != 0)
        {
            return null;
        }
        var mode = MemoryMarshal.Read<ushort>(buffer.AsSpan(StatxModeOffset));
        return (mode & FileTypeMask) == CharacterDevice
            ? (MemoryMarshal.Read<uint>(buffer.AsSpan(StatxRdevMajorOffset)), MemoryMarshal.Read<uint>(buffer.AsSpan(StatxRdevMajorOffset + 4)))
            : null;
    }

    private const int AtCurrentDirectory = -100;
    private const uint StatxType = 0x1;
    private const int StatxSize = 256;
    private const int StatxModeOffset = 28;
    private const int StatxRdevMajorOffset = 128;
    private const int FileTypeMask = 0xF000;
    private const int CharacterDevice = 0x2000;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int directory, string path, int flags, uint mask, [Out] byte[] buffer);
}
