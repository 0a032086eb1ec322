using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Deployments;

namespace Ferry.Tests;

public sealed class ScheduleTimesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Problem_BadCronField_NamesTheExpressionAndThePosition()
    {
        ScheduleTimes.Problem(new ScheduleSpec(Cron: "61 * * * *")).Should().Be(
            "The cron expression '61 * * * *' does not parse at field 1 (minute, '61'): Value must be a number between 0 and 59 (all inclusive).");
        ScheduleTimes.Problem(new ScheduleSpec(Cron: "0 9 * * 1-9")).Should().StartWith("The cron expression '0 9 * * 1-9' does not parse at field 5 (day of week, '1-9')");
        ScheduleTimes.Problem(new ScheduleSpec(Cron: "0 9 *")).Should().StartWith("The cron expression '0 9 *' has 3 field(s); write five");
    }

    [Fact]
    public void Problem_UnknownTimeZoneOrBadPeriod_SaysWhich()
    {
        ScheduleTimes.Problem(new ScheduleSpec(Cron: "0 * * * *", TimeZone: "Mars/Olympus")).Should().Be(
            "The time zone 'Mars/Olympus' of the cron expression '0 * * * *' is unknown; use an IANA name such as 'Europe/Berlin' or 'America/New_York'.");
        ScheduleTimes.Problem(new ScheduleSpec(PeriodSeconds: 0.5)).Should().Be("A schedule's period must be between 1 second and 366 days, not 0.5 s.");
        ScheduleTimes.Problem(new ScheduleSpec(PeriodSeconds: 60, Cron: "0 * * * *")).Should().Be("A schedule is either a period or a cron expression: set exactly one.");
        ScheduleTimes.Problem(new ScheduleSpec(Cron: "0 9 * * 1-5", TimeZone: "Europe/Berlin")).Should().BeNull();
    }

    [Fact]
    public void SdkSchedules_BadInput_AreRejectedWhenDefined()
    {
        var cron = () => new Cron("0 25 * * *", "Europe/Berlin");
        var zone = () => new Cron("0 9 * * *", "Nowhere/City");
        var period = () => new Period(TimeSpan.Zero);

        cron.Should().Throw<InvalidRequestException>().WithMessage("The cron expression '0 25 * * *' does not parse at field 2 (hour, '25')*");
        zone.Should().Throw<InvalidRequestException>().WithMessage("The time zone 'Nowhere/City'*");
        period.Should().Throw<InvalidRequestException>().WithMessage("A schedule's period must be between 1 second and 366 days, not 0 s.");
    }

    [Fact]
    public void Next_Period_CountsFromTheAnchor()
    {
        var spec = new ScheduleSpec(PeriodSeconds: 2);

        ScheduleTimes.Next(spec, T0, T0).Should().Be(T0.AddSeconds(2));
        ScheduleTimes.Next(spec, T0, T0.AddSeconds(3.5)).Should().Be(T0.AddSeconds(4));
        ScheduleTimes.Next(spec, T0, T0.AddSeconds(4)).Should().Be(T0.AddSeconds(6));
    }

    [Fact]
    public void Next_CronInBerlinAcrossBothDstChanges_RunsOnceADayAtTheLocalTime()
    {
        // 02:30 does not exist on 2026-03-29 (02:00 CET jumps to 03:00 CEST) and occurs twice on 2026-10-25.
        var spec = new ScheduleSpec(Cron: "30 2 * * *", TimeZone: "Europe/Berlin");

        Walk(spec, new DateTimeOffset(2026, 3, 27, 12, 0, 0, TimeSpan.Zero), 4).Should().Equal(
            new DateTimeOffset(2026, 3, 28, 1, 30, 0, TimeSpan.Zero),
            new DateTimeOffset(2026, 3, 29, 1, 0, 0, TimeSpan.Zero),
            new DateTimeOffset(2026, 3, 30, 0, 30, 0, TimeSpan.Zero),
            new DateTimeOffset(2026, 3, 31, 0, 30, 0, TimeSpan.Zero));
        Walk(spec, new DateTimeOffset(2026, 10, 24, 12, 0, 0, TimeSpan.Zero), 2).Should().Equal(
            new DateTimeOffset(2026, 10, 25, 0, 30, 0, TimeSpan.Zero),
            new DateTimeOffset(2026, 10, 26, 1, 30, 0, TimeSpan.Zero));
    }

    [Fact]
    public void LatestDue_ThreeMissedDueTimes_GivesOnlyTheNewest()
    {
        var spec = new ScheduleSpec(PeriodSeconds: 2);

        DeploymentService.LatestDue(spec, T0, T0.AddSeconds(1.9)).Should().BeNull();
        DeploymentService.LatestDue(spec, T0, T0.AddSeconds(2)).Should().Be(T0.AddSeconds(2));
        DeploymentService.LatestDue(spec, T0.AddSeconds(4), T0.AddSeconds(11)).Should().Be(T0.AddSeconds(10));
    }

    private static List<DateTimeOffset> Walk(ScheduleSpec spec, DateTimeOffset from, int count)
    {
        var times = new List<DateTimeOffset>();
        var after = from;
        for (var i = 0; i < count; i++)
        {
            after = ScheduleTimes.Next(spec, from, after)!.Value;
            times.Add(after);
        }
        return times;
    }
}
