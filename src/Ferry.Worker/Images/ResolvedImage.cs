namespace Ferry.Worker.Images;

/// <summary>A local file or directory mounted read-only into a container when it starts.</summary>
public sealed record ImageMount(string Source, string Destination);

/// <summary>An image ready to run: its layers (top first, the base last) and what it sets for the process.</summary>
/// <param name="Id">The image's id: that of its last build step.</param>
/// <param name="Lowers">The layer directories, top first, ending with the base image.</param>
/// <param name="Environment"><c>NAME=value</c> pairs the image sets.</param>
/// <param name="Workdir">The working directory the image sets, if any.</param>
/// <param name="Mounts">Local files mounted at start.</param>
/// <param name="Layers">How many steps above the base the image has.</param>
/// <param name="BuiltLayers">How many of them this request built.</param>
public sealed record ResolvedImage(
    string Id,
    IReadOnlyList<string> Lowers,
    IReadOnlyList<string> Environment,
    string? Workdir,
    IReadOnlyList<ImageMount> Mounts,
    int Layers,
    int BuiltLayers);
