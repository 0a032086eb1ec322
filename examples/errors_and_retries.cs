// What failures look like to the caller: a remote exception with its stack trace, retries with backoff, and a timeout.
// Run it with: ferry run examples/errors_and_retries.cs
using Ferry;

var app = new App("errors-and-retries");

var divide = app.Function(Divide);

// Fails on its first two attempts, then succeeds. Attempts are counted in a file because each attempt may run in a
// different container.
var flaky = app.Function(FlakyAsync, new FunctionOptions
{
    Retries = new Retries(3) { InitialDelay = TimeSpan.FromMilliseconds(500), BackoffCoefficient = 2 },
});

var sleepy = app.Function(SleepAsync, new FunctionOptions { Timeout = TimeSpan.FromSeconds(2) });

app.LocalEntrypoint(async () =>
{
    try
    {
        await divide.RemoteAsync(1, 0);
    }
    catch (RemoteException e)
    {
        Console.WriteLine($"remote exception: {e.RemoteType}: {e.RemoteMessage}");
        Console.WriteLine("remote stack trace:");
        Console.WriteLine(e.RemoteStackTrace);
    }

    var counter = Path.Combine(Path.GetTempPath(), $"ferry-flaky-{Guid.NewGuid():N}");
    var started = DateTime.UtcNow;
    Console.WriteLine($"flaky: {await flaky.RemoteAsync(counter)} after {(DateTime.UtcNow - started).TotalSeconds:0.0} s (retries wait 0.5 s, then 1 s)");

    try
    {
        await sleepy.RemoteAsync(10_000);
    }
    catch (FunctionTimeoutException e)
    {
        Console.WriteLine($"timeout: {e.Message}");
    }
});

return await app.RunAsync(args);

static int Divide(int a, int b) => a / b;

static async Task<string> FlakyAsync(string counterFile)
{
    await File.AppendAllTextAsync(counterFile, "attempt\n");
    var attempt = (await File.ReadAllLinesAsync(counterFile)).Length;
    return attempt < 3 ? throw new IOException($"attempt {attempt} failed") : $"succeeded on attempt {attempt}";
}

static async Task<int> SleepAsync(int milliseconds)
{
    await Task.Delay(milliseconds);
    return milliseconds;
}
