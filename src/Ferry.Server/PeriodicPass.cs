namespace Ferry.Server;

/// <summary>
/// Runs one pass of background upkeep (a sweep, the deployment loop) on a <see cref="PeriodicTimer"/> of the server's
/// clock until disposed. A pass that throws is reported and the next one runs at the next tick; passes never overlap.
/// </summary>
internal sealed class PeriodicPass(TimeSpan interval, TimeProvider clock, Func<CancellationToken, Task> pass, Action<Exception> failed)
    : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;
    private int _disposed;

    /// <summary>Starts the loop; with <paramref name="passNow"/> the first pass runs at once instead of after one interval.</summary>
    public void Start(bool passNow)
    {
        // The timer starts counting here, not when the loop's task first runs, so the first tick is one interval from now.
        var timer = new PeriodicTimer(interval, clock);
        _loop = Task.Run(() => LoopAsync(timer, passNow), CancellationToken.None);
    }

    private async Task LoopAsync(PeriodicTimer timer, bool passNow)
    {
        using var owned = timer;
        try
        {
            if (!passNow && !await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                return;
            }
            do
            {
                try
                {
                    await pass(_stop.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (!(e is OperationCanceledException && _stop.IsCancellationRequested))
                {
                    failed(e);
                }
            }
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>Stops the loop and waits for a pass in progress to end; later calls do nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
