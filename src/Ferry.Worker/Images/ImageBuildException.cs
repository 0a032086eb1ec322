namespace Ferry.Worker.Images;

/// <summary>A build step failed. The message names the step and carries the end of its output.</summary>
public sealed class ImageBuildException(string message) : Exception(message);
