using System.Diagnostics;
using Ferry.Protocol;
using Ferry.Protocol.Validation;
using Ferry.Worker.Runtimes.Runc;

namespace Ferry.Worker.Images;

/// <summary>
/// Builds images as chains of overlay layers on the base image. It walks an image's steps from the bottom, naming
/// each step's layer (<see cref="LayerIds"/>), finding it in the <see cref="LayerStore"/> or building it there with the
/// <see cref="StepExecutor"/>, and collects what the steps set for the process: environment, working directory and
/// mounted files. An unchanged definition finds every layer on disk, and a changed step rebuilds from there on.
/// </summary>
/// <remarks>
/// A forced step is rebuilt once per app; every step above a rebuilt forced step is rebuilt too, since it was built
/// over the old layer.
/// </remarks>
public sealed class ImageBuilder
{
    private readonly BaseImage _baseImage;
    private readonly LayerStore _store;
    private readonly StepExecutor _steps;

    /// <summary>An image store in <paramref name="imagesDir"/> whose build containers run on <paramref name="network"/>.</summary>
    public ImageBuilder(string imagesDir, string stateDir, BaseImage baseImage, ContainerNetwork network)
    {
        _baseImage = baseImage;
        _store = new LayerStore(imagesDir);
        _steps = new StepExecutor(_store, new BuildContainer(stateDir, network));
    }

    /// <summary>How many layer builds have run, for tests and the registry.</summary>
    public int BuildsRun => _store.BuildsRun;

    /// <summary>Makes sure every layer of <paramref name="spec"/> exists, building those that do not.</summary>
    /// <exception cref="ImageBuildException">The spec is not valid, or a step failed.</exception>
    public async Task<ResolvedImage> EnsureAsync(ImageSpec? spec, ImageRequest request, Action<string> progress, CancellationToken cancellationToken)
    {
        // The worker builds as root, so it checks what it is handed itself rather than trusting the sender did.
        if (spec is not null && WireValidator.Check(spec) is { } problem)
        {
            throw new ImageBuildException($"The image definition is not valid: {problem}");
        }
        string baseDir;
        try
        {
            baseDir = await _baseImage.EnsureAsync(progress, cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException e)
        {
            throw new ImageBuildException(e.Message);
        }
        var steps = spec?.Steps ?? [];
        var id = Path.GetFileName(_baseImage.Path);
        var lowers = new List<string> { baseDir };
        var env = new List<string>();
        string? workdir = null;
        var mounts = new List<ImageMount>();
        var built = 0;
        var forcing = false;
        var clock = Stopwatch.StartNew();
        var buildSteps = steps.Count(s => !ImageSteps.IsMount(s));
        var number = 0;
        foreach (var step in steps)
        {
            if (ImageSteps.IsMount(step))
            {
                mounts.Add(await _steps.MountAsync(step, request, cancellationToken).ConfigureAwait(false));
                continue;
            }
            number++;
            id = LayerIds.Of(id, step);
            var force = step.ForceBuild || forcing;
            var context = new StepContext(step, id, number, buildSteps, [.. lowers], [.. env], workdir, force, request, progress);
            var key = LayerStore.BuildKey(id, force ? request.AppId : null);
            var (didBuild, ran) = await _store.ShareAsync(key, () => BuildLayerAsync(context, CancellationToken.None), cancellationToken).ConfigureAwait(false);
            if (didBuild)
            {
                // Only the request that ran the build counts it; the others waited for the same layer.
                built += ran ? 1 : 0;
                forcing |= force;
            }
            switch (step.Kind)
            {
                case ImageStepKinds.Env:
                    env.AddRange(step.Args);
                    break;
                case ImageStepKinds.Workdir:
                    workdir = step.Args[0];
                    break;
            }
            if (_store.FilesOf(id) is { } files)
            {
                lowers.Insert(0, files);
            }
        }
        var imageId = LayerIds.ImageId(id);
        if (built > 0)
        {
            progress($"Image {imageId} ready in {clock.Elapsed.TotalSeconds:0.0} s ({built} of {buildSteps} layers built).");
        }
        return new ResolvedImage(imageId, lowers, env, workdir, mounts, buildSteps, built);
    }

    /// <summary>Returns whether it built the layer (false when it was already there).</summary>
    private async Task<bool> BuildLayerAsync(StepContext context, CancellationToken cancellationToken)
    {
        var forcedFor = context.Force ? context.Request.AppId : null;
        if (_store.Has(context.Id, forcedFor))
        {
            return false;
        }
        var took = await _store.BuildAsync(context.Id, ImageSteps.Describe(context.Step), forcedFor, async (staging, token) =>
        {
            context.Progress($"=> {context.Title}{(context.Force ? " (forced)" : "")}");
            await _steps.RunAsync(context, staging, token).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        context.Progress($"   done in {took.TotalSeconds:0.0} s");
        return true;
    }
}
