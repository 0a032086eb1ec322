namespace Ferry.Worker.Images;

/// <summary>The overlay mount that stacks an image's layers, for build containers and function containers alike.</summary>
public static class OverlayMount
{
    /// <summary>
    /// The overlay mount options for layers stacked top first. The kernel takes at most one page of options, which
    /// bounds how many layers an image can have; past it the error says what to do rather than letting mount fail.
    /// </summary>
    /// <exception cref="ImageBuildException">The options would be longer than the kernel accepts.</exception>
    public static string Options(IReadOnlyList<string> lowers, string upper, string work)
    {
        var options = $"lowerdir={string.Join(':', lowers)},upperdir={upper},workdir={work}";
        if (options.Length >= 4000)
        {
            throw new ImageBuildException(
                $"The image has {lowers.Count - 1} layers, more than an overlay mount can stack here. Combine steps: one RunCommands or AptInstall can take many commands or packages.");
        }
        return options;
    }
}
