using Ferry.Protocol;

namespace Ferry.Worker.Images;

/// <summary>What the worker reads off a step before running it: how to show it, and whether it builds a layer at all.</summary>
public static class ImageSteps
{
    /// <summary>One line for a step, as the build log and the image registry show it. Env steps show names, never values: users put keys there.</summary>
    public static string Describe(ImageStep step) => step.Kind switch
    {
        ImageStepKinds.Env => $"env {string.Join(' ', step.Args.Select(pair => pair.Split('=', 2)[0]))}",
        ImageStepKinds.AddLocal => $"add_local {step.Args[1]} {step.Args[0]} ({step.Files?.Count ?? 0} files, {step.Args[2]})",
        ImageStepKinds.RunFunction => $"run_function {(step.Args.Count > 2 ? step.Args[2] : step.Args[0])}",
        _ => $"{step.Kind} {string.Join(' ', step.Args)}",
    };

    /// <summary>Files added with <c>copy: false</c>: mounted when a container starts, never a layer.</summary>
    internal static bool IsMount(ImageStep step) => step.Kind == ImageStepKinds.AddLocal && step.Args[2] == "mount";
}
