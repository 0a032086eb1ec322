using Ferry.Client;
using Ferry.Protocol;

namespace Ferry.Hosting;

/// <summary>Where this process runs and how it reaches the control plane. Read once from the environment.</summary>
internal static class FerryContext
{
    private static readonly Lazy<FerryClient?> LazyClient = new(CreateClient);

    public static string? Mode { get; } = Environment.GetEnvironmentVariable(FerryEnv.Mode);

    public static bool IsContainer => Mode == FerryModes.Container;

    /// <summary>A client set by tests and tools that host the SDK in-process.</summary>
    public static FerryClient? Override { get; set; }

    public static FerryClient Client =>
        Override ?? LazyClient.Value ?? throw new FerryException(
            "Remote calls need a Ferry server, and this program was not started by one. Run it with `ferry run <file.cs>`.");

    private static FerryClient? CreateClient()
    {
        var url = Environment.GetEnvironmentVariable(FerryEnv.ServerUrl);
        if (string.IsNullOrEmpty(url))
        {
            return null;
        }
        // A container acts with its own token, which reaches only its own app; other modes with the client token the CLI passed.
        var token = Environment.GetEnvironmentVariable(Mode == FerryModes.Container ? FerryEnv.ContainerToken : FerryEnv.Token);
        return new FerryClient(new Uri(url.EndsWith('/') ? url : url + "/"), token, fingerprint: Environment.GetEnvironmentVariable(FerryEnv.ServerFingerprint))
        {
            AppId = Environment.GetEnvironmentVariable(FerryEnv.AppId) ?? "",
        };
    }
}
