namespace Ferry.Cli;

/// <summary>Where the CLI keeps its state: <c>$FERRY_HOME</c>, or <c>~/.ferry</c>.</summary>
internal static class FerryHome
{
    /// <summary>
    /// The directory itself, read from <c>$FERRY_HOME</c> once per process. Tests that run the CLI's code in their own
    /// process point it at a directory of their own.
    /// </summary>
    public static string Root { get; internal set; } = FerryConnection.Home;

    /// <summary>The embedded server's data dir.</summary>
    public static string DataDir => Path.Combine(Root, "data");

    /// <summary>Generated projects and build outputs of single-file apps.</summary>
    public static string Builds => Path.Combine(Root, "builds");

    /// <summary>Where a running local server records its address.</summary>
    public static string ServerState => Path.Combine(Root, "server.json");

    public static string ServerLog => Path.Combine(Root, "server.log");

    /// <summary>The local server's port, kept across restarts so callers find its replacement.</summary>
    public static string PortFile => Path.Combine(Root, "server.port");

    /// <summary>The local server's client token, readable by its owner only; the CLI and the programs it runs use it.</summary>
    public static string TokenFile => Path.Combine(Root, "token");

    /// <summary>
    /// Makes the directory and proves it writable, before a command builds into it or starts a server from it: a
    /// <c>FERRY_HOME</c> that is a file, cannot be made or is not the user's to write is one line naming it.
    /// </summary>
    /// <exception cref="CliException">The directory cannot be used.</exception>
    public static void Prepare()
    {
        const string Remedy = "Point FERRY_HOME at a directory you can write, or unset it to use ~/.ferry.";
        if (File.Exists(Root))
        {
            throw new CliException($"Ferry's home '{Root}' is a file. {Remedy}");
        }
        try
        {
            Directory.CreateDirectory(Root);
            var probe = Path.Combine(Root, $".write-check-{Environment.ProcessId}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"Ferry's home '{Root}' cannot be used: {e.Message} {Remedy}");
        }
    }
}
