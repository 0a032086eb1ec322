namespace Ferry.Worker.Images;

/// <summary>Where the files a step names go on the worker's disk, refusing every path that would leave its directory.</summary>
internal static class ImagePaths
{
    /// <summary>Where a file at <paramref name="relative"/> goes under <paramref name="root"/>, strictly inside it.</summary>
    /// <exception cref="ImageBuildException">The path is absolute, climbs out with <c>..</c>, passes a link, or is the root itself.</exception>
    public static string Confine(string root, string relative) =>
        ConfinedPath.Resolve(root, relative) is { } path && path != Path.TrimEndingDirectorySeparator(Path.GetFullPath(root))
            ? path
            : throw new ImageBuildException($"The file path '{relative}' leaves its directory; the step was refused.");

    /// <summary>Where the container path <paramref name="containerPath"/> is in the image filesystem <paramref name="root"/>.</summary>
    /// <exception cref="ImageBuildException">The path is not absolute, or leaves the image by <c>..</c> or a link.</exception>
    public static string ConfineInImage(string root, string containerPath) =>
        ConfinedPath.ResolveInImage(root, containerPath)
            ?? throw new ImageBuildException($"The container path '{containerPath}' is not an absolute path inside the image; the step was refused.");
}
