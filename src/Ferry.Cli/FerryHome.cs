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

    /// <summary>Makes the directory and proves it writable, before a command builds into it or starts a server from it.</summary>
    /// <exception cref="CliException">The directory cannot be used.</exception>
    public static void Prepare() =>
        WritableDirectory.Prepare(Root, "Ferry's home", "Point FERRY_HOME at a directory you can write, or unset it to use ~/.ferry.");
}
