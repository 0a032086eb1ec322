using Ferry.Protocol;

namespace Ferry.Worker.Images;

/// <summary>One step being built: the step, its layer's id, where it stands in the image, and what the layers below it set.</summary>
/// <param name="Step">The step.</param>
/// <param name="Id">The id of the layer it builds.</param>
/// <param name="Number">Its place among the image's build steps, from 1.</param>
/// <param name="Total">How many build steps the image has.</param>
/// <param name="Lowers">The layers below it, top first, ending with the base image.</param>
/// <param name="Environment"><c>NAME=value</c> pairs the steps before it set.</param>
/// <param name="Workdir">The working directory the steps before it set, if any.</param>
/// <param name="Force">Whether the layer is rebuilt even when it is on disk.</param>
/// <param name="Request">Who asked for the image.</param>
/// <param name="Progress">Where the build log goes.</param>
internal sealed record StepContext(
    ImageStep Step,
    string Id,
    int Number,
    int Total,
    IReadOnlyList<string> Lowers,
    IReadOnlyList<string> Environment,
    string? Workdir,
    bool Force,
    ImageRequest Request,
    Action<string> Progress)
{
    /// <summary>The step's heading in the build log and in error messages.</summary>
    public string Title => $"Step {Number}/{Total}: {ImageSteps.Describe(Step)}";
}
