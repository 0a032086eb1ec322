using Ferry.Protocol;

namespace Ferry.Server.Storage;

/// <summary>
/// The image registry: which worker has which image ready, how often it built it, and when it last used it. Writes
/// follow the rules of <see cref="IStore"/>.
/// </summary>
internal interface IImageStore
{
    /// <summary>
    /// Records that a worker has an image ready at <paramref name="at"/>; <see cref="ImageBuilt.BuiltLayers"/> above 0
    /// counts as a build and sets the last build's duration, anything else moves the last use only.
    /// </summary>
    Task RecordImageAsync(string workerId, ImageBuilt image, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>One entry per image and worker, the last used first.</summary>
    Task<IReadOnlyList<ImageSummary>> ListImagesAsync(CancellationToken cancellationToken);
}
