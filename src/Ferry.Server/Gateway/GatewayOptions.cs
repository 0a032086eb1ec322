namespace Ferry.Server.Gateway;

/// <summary>The web gateway's settings. Every value has the documented default.</summary>
public sealed record GatewayOptions
{
    /// <summary>
    /// The port the gateway listens on. Default null: the server's port plus one (7326 beside the default 7325), or any
    /// free port when the server's port is 0.
    /// </summary>
    public int? Port { get; init; }

    /// <summary>The address the gateway listens on. Default: the server's.</summary>
    public string? Bind { get; init; }

    /// <summary>
    /// How long a request waits for a container with a free slot (a cold start, or a busy endpoint at its maximum)
    /// before the gateway answers 503. Default 120 seconds.
    /// </summary>
    public TimeSpan ColdStartTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>The largest request body the gateway forwards; above it, 413. Default 64 MiB.</summary>
    public long MaxRequestBodyBytes { get; init; } = 64L * 1024 * 1024;
}
