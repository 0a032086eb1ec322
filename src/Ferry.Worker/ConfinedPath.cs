namespace Ferry.Worker;

/// <summary>
/// Resolves a path that came over the wire under a root directory this worker writes to, and refuses one that would
/// land outside it: by <c>..</c>, by being absolute, or through a symbolic link on the way. The worker runs as root,
/// so it checks this itself rather than trusting that the control plane did.
/// </summary>
internal static class ConfinedPath
{
    /// <summary>
    /// The full path of <paramref name="relative"/> under <paramref name="root"/>, or null when it would leave the root.
    /// The root itself counts as inside. Links are looked for in the directories that already exist between the two;
    /// what does not exist yet is created by the caller as plain directories and files.
    /// </summary>
    public static string? Resolve(string root, string relative)
    {
        if (relative.Contains('\0', StringComparison.Ordinal) || Path.IsPathRooted(relative))
        {
            return null;
        }
        var fullRoot = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(Path.Combine(fullRoot, relative)));
        if (full != fullRoot && !full.StartsWith(fullRoot + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            return null;
        }
        var current = fullRoot;
        foreach (var segment in Path.GetRelativePath(fullRoot, full).Split(Path.DirectorySeparatorChar))
        {
            if (segment == ".")
            {
                break;
            }
            current = Path.Combine(current, segment);
            // A link is refused even when it dangles: creating a file through it would create its target.
            var entry = new FileInfo(current);
            if (entry.LinkTarget is not null)
            {
                return null;
            }
            if (!entry.Exists && !Directory.Exists(current))
            {
                break;
            }
        }
        return full;
    }

    /// <summary>
    /// The full path of the absolute container path <paramref name="containerPath"/> inside the root filesystem
    /// <paramref name="root"/>, or null when it is not absolute or would leave the root.
    /// </summary>
    public static string? ResolveInImage(string root, string containerPath) =>
        containerPath.StartsWith('/') ? Resolve(root, containerPath.TrimStart('/')) : null;
}
