namespace Ferry;

/// <summary>
/// How the SDK talks to the control plane: retries, long-poll waits and the batching of map inputs. The defaults suit
/// every ordinary program; change them for a slow link or a program with little memory.
/// </summary>
public sealed record ClientOptions
{
    /// <summary>The options every client uses unless given others.</summary>
    public static ClientOptions Default { get; } = new();

    /// <summary>How long a request keeps being retried while the server is unreachable or restarting. Default: 90 s.</summary>
    public TimeSpan ReconnectWindow { get; init; } = TimeSpan.FromSeconds(90);

    /// <summary>The first pause between retries of a failed request; it doubles up to <see cref="MaxRetryDelay"/>. Default: 50 ms.</summary>
    public TimeSpan InitialRetryDelay { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The longest pause between retries of a failed request. Default: 1 s.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long one request for results waits on the server before asking again. Default: 25 s.</summary>
    public TimeSpan PollWait { get; init; } = TimeSpan.FromSeconds(25);

    /// <summary>The most inputs a map sends in one request. Default: 1,000.</summary>
    public int MapBatchSize { get; init; } = 1000;

    /// <summary>The most bytes of arguments a map sends in one request. Default: 2 MiB.</summary>
    public int MapBatchBytes { get; init; } = 2 * 1024 * 1024;

    /// <summary>
    /// The most inputs of a map that may be sent without a result yet; the rest are held back, so memory stays bounded
    /// however long the input sequence is. Default: 10,000.
    /// </summary>
    public int MapMaxPending { get; init; } = 10_000;

    /// <summary>How long cancelling a call the caller gave up on may take before it is left to the server. Default: 5 s.</summary>
    public TimeSpan CancelTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Checks every setting, naming the first one out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public void Validate()
    {
        Positive(ReconnectWindow, nameof(ReconnectWindow));
        Positive(InitialRetryDelay, nameof(InitialRetryDelay));
        Positive(MaxRetryDelay, nameof(MaxRetryDelay));
        Positive(CancelTimeout, nameof(CancelTimeout));
        if (MaxRetryDelay < InitialRetryDelay)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxRetryDelay), MaxRetryDelay, $"{nameof(MaxRetryDelay)} must be at least {nameof(InitialRetryDelay)} ({InitialRetryDelay}).");
        }
        if (PollWait <= TimeSpan.Zero || PollWait > TimeSpan.FromSeconds(60))
        {
            throw new ArgumentOutOfRangeException(nameof(PollWait), PollWait, $"{nameof(PollWait)} must be more than 0 and at most 60 s.");
        }
        if (MapBatchSize is < 1 or > 10_000)
        {
            throw new ArgumentOutOfRangeException(nameof(MapBatchSize), MapBatchSize, $"{nameof(MapBatchSize)} must be 1 to 10,000.");
        }
        if (MapBatchBytes is < 1024 or > 16 * 1024 * 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MapBatchBytes), MapBatchBytes, $"{nameof(MapBatchBytes)} must be 1 KiB to 16 MiB.");
        }
        if (MapMaxPending < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MapMaxPending), MapMaxPending, $"{nameof(MapMaxPending)} must be at least 1.");
        }
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be more than zero.");
        }
    }
}
