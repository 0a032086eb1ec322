using Ferry.Protocol;

namespace Ferry;

/// <summary>
/// When a function of a deployed app runs on its own (Modal's <c>schedule=</c>): a <see cref="Period"/> or a
/// <see cref="Cron"/>. Schedules fire only once the app is deployed with <c>ferry deploy</c>, never for
/// <c>ferry run</c>. Each due time runs once, even across a restart of the server; a server that was down through
/// several due times runs the function once when it is back. A run still going when the next is due makes that due
/// time skip, unless the function takes concurrent inputs (<see cref="FunctionOptions.MaxInputs"/> above 1).
/// </summary>
public abstract record Schedule
{
    private protected Schedule()
    {
    }

    internal abstract ScheduleSpec ToSpec();

    /// <summary>The schedule as people read it, such as <c>every 01:00:00</c> or <c>cron '0 9 * * 1-5' Europe/Berlin</c>.</summary>
    public override string ToString() => ScheduleTimes.Describe(ToSpec());
}

/// <summary>Runs a function every <see cref="Interval"/>, counted from its deployment: <c>new Period(TimeSpan.FromHours(1))</c>.</summary>
public sealed record Period : Schedule
{
    /// <summary>Creates a period schedule.</summary>
    /// <param name="interval">The time between runs: 1 second to 366 days.</param>
    /// <exception cref="InvalidRequestException">The interval is out of range.</exception>
    public Period(TimeSpan interval)
    {
        Interval = interval;
        if (ScheduleTimes.Problem(ToSpec()) is { } problem)
        {
            throw new InvalidRequestException(problem);
        }
    }

    /// <summary>The time between runs.</summary>
    public TimeSpan Interval { get; }

    internal override ScheduleSpec ToSpec() => new(PeriodSeconds: Interval.TotalSeconds);
}

/// <summary>
/// Runs a function at the times a five-field cron expression names (minute hour day-of-month month day-of-week), in a
/// time zone: <c>new Cron("0 9 * * 1-5", "Europe/Berlin")</c>. Across a daylight-saving change a local time that does
/// not exist runs once at the next valid instant, and one that occurs twice runs once.
/// </summary>
public sealed record Cron : Schedule
{
    /// <summary>Creates a cron schedule; the expression and time zone are checked here.</summary>
    /// <param name="expression">Five fields, such as <c>0 * * * *</c> (hourly) or <c>0 9 * * 1-5</c> (weekdays at 9).</param>
    /// <param name="timeZone">An IANA time zone such as <c>Europe/Berlin</c>. Default: UTC.</param>
    /// <exception cref="InvalidRequestException">The expression does not parse (the message names it and the field) or the time zone is unknown.</exception>
    public Cron(string expression, string? timeZone = null)
    {
        ArgumentNullException.ThrowIfNull(expression);
        Expression = expression;
        TimeZone = timeZone;
        if (ScheduleTimes.Problem(ToSpec()) is { } problem)
        {
            throw new InvalidRequestException(problem);
        }
    }

    /// <summary>The cron expression.</summary>
    public string Expression { get; }

    /// <summary>The IANA time zone, or null for UTC.</summary>
    public string? TimeZone { get; }

    internal override ScheduleSpec ToSpec() => new(Cron: Expression, TimeZone: TimeZone);
}
