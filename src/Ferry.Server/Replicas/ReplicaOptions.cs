namespace Ferry.Server.Replicas;

/// <summary>How a server runs as one replica among several on one PostgreSQL database.</summary>
public sealed record ReplicaOptions
{
    /// <summary>
    /// How long an app's lease lasts unrenewed: the longest an app waits for a new owner after its owner dies, plus
    /// one renewal interval (a third of it). Default: 10 s.
    /// </summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The URL other replicas forward requests to; null (the default) for the address the server listens on.</summary>
    public Uri? AdvertisedUrl { get; init; }

    /// <summary>Checks the settings, naming the first one out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public void Validate()
    {
        if (LeaseDuration < TimeSpan.FromSeconds(1) || LeaseDuration > TimeSpan.FromMinutes(10))
        {
            throw new ArgumentOutOfRangeException(nameof(LeaseDuration), LeaseDuration, "The lease duration must be between 1 s and 10 min.");
        }
        if (AdvertisedUrl is { } url && (!url.IsAbsoluteUri || url.Scheme is not ("http" or "https")))
        {
            throw new ArgumentOutOfRangeException(nameof(AdvertisedUrl), url, "The advertised URL must be an absolute http or https URL.");
        }
    }
}
