using System.Globalization;

namespace Ferry.Worker.Runtimes.Runc;

/// <summary>A character device node a container may use.</summary>
public sealed record DeviceNode(string Path, long Major, long Minor);

/// <summary>
/// The device nodes that make reserved GPUs usable in a container: <c>/dev/nvidia&lt;N&gt;</c> for each reserved GPU
/// and the driver's shared control nodes. Only nodes that exist on the host are exposed, so a worker with a configured
/// (fake) inventory still starts its containers, with just the <c>CUDA_VISIBLE_DEVICES</c> naming.
/// </summary>
public static class GpuDevices
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

    /// <summary>A node's major and minor numbers from <c>stat</c>, or null when there is no such node.</summary>
    public static (long Major, long Minor)? Stat(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }
        var (code, output) = Processes.RunAsync("stat", ["-c", "%t %T", path], CancellationToken.None).GetAwaiter().GetResult();
        var parts = output.Trim().Split(' ');
        return code == 0 && parts.Length == 2
            ? (long.Parse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture), long.Parse(parts[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture))
            : null;
    }
}
