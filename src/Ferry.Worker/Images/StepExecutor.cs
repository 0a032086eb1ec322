using Ferry.Protocol;
using Ferry.Protocol.Validation;

namespace Ferry.Worker.Images;

/// <summary>
/// Runs one build step into its layer's staging directory; the switch in <see cref="RunAsync"/> names every kind of
/// step. Metadata steps (env, workdir) and file copies are written by the worker itself, without a container; the
/// others run in a <see cref="BuildContainer"/>. Files added with <c>copy: false</c> build no layer: see <see cref="MountAsync"/>.
/// </summary>
internal sealed class StepExecutor(LayerStore store, BuildContainer container)
{
    /// <summary>Writes the layer of <paramref name="context"/>'s step into <paramref name="staging"/>'s <c>fs/</c>.</summary>
    /// <exception cref="ImageBuildException">The step failed or named a path outside the image.</exception>
    public async Task RunAsync(StepContext context, string staging, CancellationToken cancellationToken)
    {
        var fs = Path.Combine(staging, "fs");
        switch (context.Step.Kind)
        {
            case ImageStepKinds.Env:
                // Metadata only: the variables are applied from the definition; the layer holds no files.
                Directory.Delete(fs);
                break;
            case ImageStepKinds.Workdir:
                Directory.CreateDirectory(ImagePaths.ConfineInImage(fs, context.Step.Args[0]));
                break;
            case ImageStepKinds.AddLocal:
                await CopyFilesAsync(context.Step, fs, context.Request.Blobs, cancellationToken).ConfigureAwait(false);
                break;
            default:
                await container.RunAsync(context, staging, cancellationToken).ConfigureAwait(false);
                break;
        }
    }

    /// <summary>Mounted files live in a directory named by the hash of their manifest, shared by every container.</summary>
    /// <exception cref="ImageBuildException">A file path leaves its directory, or the target is not a path inside the image.</exception>
    public async Task<ImageMount> MountAsync(ImageStep step, ImageRequest request, CancellationToken cancellationToken)
    {
        var dir = await store.EnsureMountAsync(LayerIds.OfMount(step), async staging =>
        {
            foreach (var file in step.Files ?? [])
            {
                var path = ImagePaths.Confine(staging, file.Path);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                await request.Blobs.DownloadAsync(file.Hash, path, CancellationToken.None).ConfigureAwait(false);
            }
        }, cancellationToken).ConfigureAwait(false);
        var source = step.Args[1] == "file" ? ImagePaths.Confine(dir, step.Files![0].Path) : dir;
        if (!WireRules.IsContainerPath(step.Args[0]))
        {
            throw new ImageBuildException($"The container path '{step.Args[0]}' is not an absolute path inside the image; the step was refused.");
        }
        return new ImageMount(source, step.Args[0]);
    }

    private static async Task CopyFilesAsync(ImageStep step, string root, IBlobSource blobs, CancellationToken cancellationToken)
    {
        var destination = ImagePaths.ConfineInImage(root, step.Args[0]);
        foreach (var file in step.Files ?? [])
        {
            var path = step.Args[1] == "file" ? destination : ImagePaths.Confine(destination, file.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await blobs.DownloadAsync(file.Hash, path, cancellationToken).ConfigureAwait(false);
        }
    }
}
