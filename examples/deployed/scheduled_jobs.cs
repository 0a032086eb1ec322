// The seed's scheduled jobs: `hourly_job` every hour and `daily_report` on weekdays at 9 in Berlin. They fire only
// once the app is deployed; `ferry run` says so and runs the entrypoint only.
//
//   ./ferry deploy examples/deployed/scheduled_jobs.cs
//   ./ferry schedule list
//   ./ferry app logs scheduled-jobs -f
using Ferry;

var app = new App("scheduled-jobs");
app.Function(HourlyJob, new FunctionOptions { Schedule = new Period(TimeSpan.FromHours(1)) }, name: "hourly_job");
app.Function(DailyReport, new FunctionOptions { Schedule = new Cron("0 9 * * 1-5", "Europe/Berlin") }, name: "daily_report");
app.LocalEntrypoint(() => Console.WriteLine("Deploy this app to start its schedules: ferry deploy examples/deployed/scheduled_jobs.cs"));
return await app.RunAsync(args);

static void HourlyJob() => Console.WriteLine($"hourly job at {DateTimeOffset.UtcNow:u}");

static string DailyReport() => $"daily report for {DateOnly.FromDateTime(DateTime.UtcNow)}";
