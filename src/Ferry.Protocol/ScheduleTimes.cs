using System.Globalization;
using Cronos;

namespace Ferry.Protocol;

/// <summary>
/// The times a <see cref="ScheduleSpec"/> names, computed the same way by the SDK (which rejects a bad schedule when the
/// app is defined) and the control plane (which fires them). Cron expressions are parsed by Cronos.
/// </summary>
public static class ScheduleTimes
{
    private static readonly (string Field, int Position, string Name)[] Fields =
    [
        ("Minutes", 1, "minute"),
        ("Hours", 2, "hour"),
        ("Days of month", 3, "day of month"),
        ("Months", 4, "month"),
        ("Days of week", 5, "day of week"),
    ];

    /// <summary>What is wrong with a schedule, naming the expression, field position or time zone; null when it is valid.</summary>
    public static string? Problem(ScheduleSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if ((spec.PeriodSeconds is null) == (spec.Cron is null))
        {
            return "A schedule is either a period or a cron expression: set exactly one.";
        }
        if (spec.PeriodSeconds is { } seconds)
        {
            return seconds is >= 1 and <= 366 * 86400 && double.IsFinite(seconds)
                ? spec.TimeZone is null ? null : "A period schedule takes no time zone; only a cron schedule does."
                : $"A schedule's period must be between 1 second and 366 days, not {seconds.ToString(CultureInfo.InvariantCulture)} s.";
        }
        var expression = spec.Cron!;
        var fields = expression.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length != 5)
        {
            return $"The cron expression '{expression}' has {fields.Length} field(s); write five: minute hour day-of-month month day-of-week, such as '0 9 * * 1-5'.";
        }
        try
        {
            CronExpression.Parse(expression);
        }
        catch (CronFormatException e)
        {
            var field = Fields.FirstOrDefault(f => e.Message.Contains(f.Field + ":", StringComparison.Ordinal));
            var detail = e.Message[(e.Message.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
            return field.Field is null
                ? $"The cron expression '{expression}' does not parse: {e.Message}"
                : $"The cron expression '{expression}' does not parse at field {field.Position} ({field.Name}, '{fields[field.Position - 1]}'): {detail}";
        }
        if (spec.TimeZone is { } zone && FindZone(zone) is null)
        {
            return $"The time zone '{zone}' of the cron expression '{expression}' is unknown; use an IANA name such as 'Europe/Berlin' or 'America/New_York'.";
        }
        return null;
    }

    /// <summary>
    /// The first due time after <paramref name="after"/>: for a period, the next multiple of it from
    /// <paramref name="anchor"/> (the deployment); for a cron expression, its next occurrence in its time zone.
    /// </summary>
    /// <exception cref="ArgumentException">The schedule is not valid (see <see cref="Problem"/>).</exception>
    public static DateTimeOffset? Next(ScheduleSpec spec, DateTimeOffset anchor, DateTimeOffset after)
    {
        if (Problem(spec) is { } problem)
        {
            throw new ArgumentException(problem, nameof(spec));
        }
        if (spec.PeriodSeconds is { } seconds)
        {
            var period = TimeSpan.FromSeconds(seconds);
            if (after < anchor)
            {
                return anchor + period;
            }
            var elapsed = (after - anchor).Ticks / period.Ticks;
            return anchor + TimeSpan.FromTicks(period.Ticks * (elapsed + 1));
        }
        var zone = spec.TimeZone is null ? TimeZoneInfo.Utc : FindZone(spec.TimeZone)!;
        return CronExpression.Parse(spec.Cron!).GetNextOccurrence(after, zone);
    }

    /// <summary>The schedule as people read it: <c>every 1h</c>, <c>cron '0 9 * * 1-5' Europe/Berlin</c>.</summary>
    public static string Describe(ScheduleSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec.PeriodSeconds is { } seconds
            ? $"every {TimeSpan.FromSeconds(seconds).ToString("c", CultureInfo.InvariantCulture)}"
            : $"cron '{spec.Cron}' {spec.TimeZone ?? "UTC"}";
    }

    private static TimeZoneInfo? FindZone(string id)
    {
        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(id);
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            return null;
        }
    }
}
