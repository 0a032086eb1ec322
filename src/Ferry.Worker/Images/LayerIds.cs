using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Ferry.Protocol;

namespace Ferry.Worker.Images;

/// <summary>
/// How layers are named on disk. A layer's id hashes its parent's id, its step and the contents of the files it adds,
/// so an unchanged definition finds every layer again and a changed step changes its id and every id above it.
/// </summary>
/// <remarks>A change here renames every layer, so every worker rebuilds every image: the ids are pinned by tests.</remarks>
public static class LayerIds
{
    /// <summary>The id of a step's layer: its parent's id, the step and the hashes of the files it adds.</summary>
    public static string Of(string parentId, ImageStep step)
    {
        var text = new StringBuilder(parentId).Append('\n').Append(step.Kind);
        foreach (var arg in step.Args)
        {
            text.Append('\n').Append(arg.Length.ToString(CultureInfo.InvariantCulture)).Append(':').Append(arg);
        }
        foreach (var file in step.Files ?? [])
        {
            text.Append('\n').Append(file.Path).Append('=').Append(file.Hash);
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..32];
    }

    /// <summary>
    /// The key of a mounted files directory: the hash of its files and whether it is a file or a directory, not where
    /// it is mounted, so every container mounting the same files shares one directory.
    /// </summary>
    public static string OfMount(ImageStep step) => Of("mount", step with { Args = ["", step.Args[1], ""] });

    /// <summary>The image id shown to people and kept by the registry: <c>im-</c> and the start of its top layer's id.</summary>
    public static string ImageId(string topLayerId) => "im-" + topLayerId[..Math.Min(12, topLayerId.Length)];
}
