using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Ferry.Worker.Volumes;

/// <summary>
/// Gives a container its own copy of a cached volume file. Where the filesystem can share extents between files
/// (btrfs, XFS with reflink, bcachefs), the copy is a reflink: instant, no data written, and copy-on-write, so a
/// container that writes into its copy in place gets new blocks and the cache keeps its bytes. Elsewhere (ext4, or
/// the cache and the container on different filesystems) it is a plain copy. A hard link would be as quick but is
/// not used: both names would be one inode, so a container that opened its file for writing, or changed its mode,
/// would alter the cache and every later container's copy.
/// </summary>
internal static partial class FileClone
{
    // _IOW(0x94, 9, int) from linux/fs.h.
    private const nuint Ficlone = 0x40049409;

    private static volatile bool _unsupported = !OperatingSystem.IsLinux();

    /// <summary>Makes <paramref name="target"/> a copy of <paramref name="source"/>, replacing any file there.</summary>
    /// <returns>True if the copy is a reflink, false if its bytes were copied.</returns>
    public static bool CloneOrCopy(string source, string target)
    {
        if (!_unsupported && TryClone(source, target))
        {
            return true;
        }
        File.Copy(source, target, overwrite: true);
        return false;
    }

    private static bool TryClone(string source, string target)
    {
        var temp = Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.ferry-{Guid.NewGuid():N}");
        try
        {
            using (var from = File.OpenHandle(source, FileMode.Open, FileAccess.Read, FileShare.Read))
            using (var to = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                if (Ioctl(to, Ficlone, from) != 0)
                {
                    // EOPNOTSUPP, EINVAL, ENOTTY: this filesystem cannot share extents, so later files are copied
                    // without asking. EXDEV (two filesystems) and the rest say nothing about the next pair.
                    if (Marshal.GetLastPInvokeError() is 95 or 22 or 25)
                    {
                        _unsupported = true;
                    }
                    return false;
                }
            }
            File.Move(temp, target, overwrite: true);
            return true;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(SafeFileHandle fd, nuint request, SafeFileHandle source);
}
