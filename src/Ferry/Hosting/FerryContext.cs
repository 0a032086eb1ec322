using Ferry.Client;
using Ferry.Protocol;

namespace Ferry.Hosting;

/// <summary>
/// Where this process runs and the server its environment names: the default client of an <see cref="App"/> made
/// without a <see cref="FerryConnection"/>. Read once from the environment.
/// </summary>
internal static class FerryContext
{
    private static readonly Lazy<FerryClient?> LazyClient = new(CreateClient);

    public static string? Mode { get; } = System.Environment.GetEnvironmentVariable(FerryEnv.Mode);

    public static bool IsContainer => Mode == FerryModes.Container;

    /// <summary>True when Ferry started this program (<c>ferry run</c>, a container, a publish step) for an app of its own.</summary>
    public static bool StartedByFerry => !string.IsNullOrEmpty(Mode);

    /// <summary>A client set by tests and tools that host the SDK in-process.</summary>
    public static FerryClient? Override { get; set; }

    /// <summary>The environment's connection, for calls that name no app, or null when the environment names no server.</summary>
    public static FerryClient? Environment => Override ?? LazyClient.Value;

    public static FerryClient Client =>
        Environment ?? throw new FerryException(
            "Remote calls need a Ferry server, and none is configured. Run the program with `ferry run <file.cs>`, or start the app from code with app.RunEphemeralAsync().");

    private static FerryClient? CreateClient()
    {
        // Only a program Ferry started has an app of its own; any other acts for no app until it runs one.
        var connection = FerryConnection.TryFromEnvironment();
        return connection?.Client.ForApp(System.Environment.GetEnvironmentVariable(FerryEnv.AppId) ?? "");
    }
}
