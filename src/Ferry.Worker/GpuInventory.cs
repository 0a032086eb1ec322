using System.Diagnostics;
using Ferry.Protocol;

namespace Ferry.Worker;

/// <summary>Finds the GPUs a worker can offer: from configuration, or from <c>nvidia-smi</c> where it exists.</summary>
public static class GpuInventory
{
    private static readonly string[] KnownTypes = ["B200", "H200", "H100", "A100", "L40S", "L4", "A10G", "A10", "T4"];

    /// <summary>Parses a configured inventory such as <c>H100:2,A10G</c> into devices numbered from 0.</summary>
    public static IReadOnlyList<GpuDevice> Parse(string inventory)
    {
        var devices = new List<GpuDevice>();
        foreach (var part in inventory.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var pieces = part.Split(':', 2, StringSplitOptions.TrimEntries);
            var count = 1;
            if (pieces.Length == 2 && (!int.TryParse(pieces[1], out count) || count < 1))
            {
                throw new ArgumentException($"'{part}' is not a GPU inventory entry; write TYPE or TYPE:COUNT, such as H100:2.");
            }
            for (var i = 0; i < count; i++)
            {
                devices.Add(new GpuDevice(devices.Count, pieces[0].ToUpperInvariant()));
            }
        }
        return devices;
    }

    /// <summary>Asks <c>nvidia-smi</c> for the host's GPUs; none when it is not installed or fails.</summary>
    public static IReadOnlyList<GpuDevice> Discover()
    {
        var smi = FindOnPath("nvidia-smi");
        if (smi is null)
        {
            return [];
        }
        try
        {
            var info = new ProcessStartInfo(smi, "--query-gpu=index,name,memory.total --format=csv,noheader,nounits")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var process = Process.Start(info)!;
            var output = process.StandardOutput.ReadToEnd();
            process.WaitForExit(10_000);
            return process.ExitCode == 0 ? ParseSmi(output) : [];
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return [];
        }
    }

    /// <summary>Reads <c>nvidia-smi --query-gpu=index,name,memory.total</c> CSV, naming each device by its model.</summary>
    internal static IReadOnlyList<GpuDevice> ParseSmi(string csv)
    {
        var devices = new List<GpuDevice>();
        foreach (var line in csv.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var fields = line.Split(',', StringSplitOptions.TrimEntries);
            if (fields.Length < 2 || !int.TryParse(fields[0], out var index))
            {
                continue;
            }
            var name = fields[1].ToUpperInvariant();
            var type = KnownTypes.FirstOrDefault(t => name.Split(' ', '-').Contains(t)) ?? name.Replace("NVIDIA ", "", StringComparison.Ordinal).Replace(' ', '-');
            if (type == "A100" && fields.Length > 2 && double.TryParse(fields[2], System.Globalization.CultureInfo.InvariantCulture, out var mib) && mib > 50_000)
            {
                type = "A100-80GB";
            }
            devices.Add(new GpuDevice(index, type));
        }
        return devices;
    }

    internal static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, program))
            .FirstOrDefault(File.Exists);
}
