namespace Ferry.Cli;

/// <summary>A directory a command is about to write in, checked before anything starts.</summary>
internal static class WritableDirectory
{
    /// <summary>
    /// Makes <paramref name="path"/> and proves it writable, so that a path that is a file, cannot be made or is not the
    /// user's to write is one line naming it (as <paramref name="name"/>) and saying what to do (<paramref name="remedy"/>),
    /// not an exception from deep inside whatever writes there first.
    /// </summary>
    /// <exception cref="CliException">The directory cannot be used.</exception>
    public static void Prepare(string path, string name, string remedy)
    {
        if (File.Exists(path))
        {
            throw new CliException($"{name} '{path}' is a file. {remedy}");
        }
        try
        {
            Directory.CreateDirectory(path);
            // Named for this check alone: `ferry run` checks its home from the build and the connection at once.
            var probe = Path.Combine(path, $".write-check-{Guid.NewGuid():N}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"{name} '{path}' cannot be used: {e.Message} {remedy}");
        }
    }
}
