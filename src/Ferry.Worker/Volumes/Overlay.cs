using System.Runtime.InteropServices;

namespace Ferry.Worker.Volumes;

/// <summary>
/// The Linux calls a container's view of a volume is made with: an overlay mount whose lower layer is a read-only
/// tree of hard links into the worker's blob cache and whose upper layer is the container's own, and the hard links.
/// The kernel copies a file up into the upper layer before its first change (data, mode or times), so the cache and
/// every other container's view keep their bytes.
/// </summary>
internal static partial class Overlay
{
    private const int Eperm = 1;
    private const int Enoent = 2;
    private const int Einval = 22;
    private const int Emlink = 31;
    private const int Enodev = 19;
    private const int Enotsup = 95;
    private const int MntDetach = 2;

    /// <summary>The outcome of <see cref="TryMount"/>.</summary>
    public enum MountResult
    {
        /// <summary>The overlay is mounted at the target.</summary>
        Mounted,

        /// <summary>This host cannot make overlays here (not Linux, not privileged, no overlay filesystem, or one the upper layer cannot live on); copy instead.</summary>
        Unavailable,
    }

    /// <summary>Mounts an overlay of <paramref name="lower"/> (read-only) and <paramref name="upper"/> at <paramref name="target"/>.</summary>
    /// <exception cref="IOException">The mount failed for a reason that says nothing about the next one.</exception>
    public static MountResult TryMount(string lower, string upper, string work, string target)
    {
        if (!OperatingSystem.IsLinux())
        {
            return MountResult.Unavailable;
        }
        // The mount options separate fields with ',' and layers with ':'; a path with either cannot be named.
        if (new[] { lower, upper, work }.Any(p => p.Contains(',') || p.Contains(':') || p.Contains('\\')))
        {
            return MountResult.Unavailable;
        }
        var options = $"lowerdir={lower},upperdir={upper},workdir={work}";
        if (Mount("overlay", target, "overlay", 0, options) == 0)
        {
            return MountResult.Mounted;
        }
        var error = Marshal.GetLastPInvokeError();
        return error is Eperm or Enodev or Einval or Enotsup
            ? MountResult.Unavailable
            : throw new IOException($"Mounting the volume overlay at {target} failed (errno {error}).");
    }

    /// <summary>Detaches the mount at <paramref name="target"/>; the kernel frees it when nothing uses it any more.</summary>
    public static void Unmount(string target)
    {
        if (OperatingSystem.IsLinux())
        {
            _ = Umount2(target, MntDetach);
        }
    }

    /// <summary>Makes <paramref name="target"/> a second name of <paramref name="source"/>.</summary>
    /// <returns>False if the source has as many names as its filesystem allows; the caller copies instead.</returns>
    /// <exception cref="IOException">The link failed for another reason.</exception>
    public static bool TryLink(string source, string target)
    {
        if (Link(source, target) == 0)
        {
            return true;
        }
        var error = Marshal.GetLastPInvokeError();
        return error == Emlink ? false : throw new IOException($"Linking {target} to the cached {source} failed (errno {error}{(error == Enoent ? ", no such file" : "")}).");
    }

    /// <summary>Makes <paramref name="target"/> a second name of <paramref name="source"/> if it can, for whatever reason it cannot.</summary>
    public static bool TryLinkAny(string source, string target) => Link(source, target) == 0;

    /// <summary>The mount points at or under <paramref name="root"/> in this process's mount namespace, deepest first.</summary>
    public static IReadOnlyList<string> MountsUnder(string root)
    {
        const string MountInfo = "/proc/self/mountinfo";
        if (!OperatingSystem.IsLinux() || !File.Exists(MountInfo))
        {
            return [];
        }
        var prefix = root.TrimEnd('/') + "/";
        var found = new List<string>();
        foreach (var line in File.ReadLines(MountInfo))
        {
            var fields = line.Split(' ');
            if (fields.Length > 4 && Unescape(fields[4]) is var point && point.StartsWith(prefix, StringComparison.Ordinal))
            {
                found.Add(point);
            }
        }
        return [.. found.OrderByDescending(p => p.Length)];
    }

    // mountinfo writes space, tab, newline and backslash in a path as three octal digits after a backslash.
    private static string Unescape(string field)
    {
        if (!field.Contains('\\'))
        {
            return field;
        }
        var text = new System.Text.StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && IsOctal(field, i + 1))
            {
                text.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                text.Append(field[i]);
            }
        }
        return text.ToString();
    }

    private static bool IsOctal(string s, int start) =>
        start + 3 <= s.Length && s[start] is >= '0' and <= '7' && s[start + 1] is >= '0' and <= '7' && s[start + 2] is >= '0' and <= '7';

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Mount(string source, string target, string type, nuint flags, string data);

    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Umount2(string target, int flags);

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string source, string target);
}
