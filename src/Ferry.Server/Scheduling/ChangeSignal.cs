namespace Ferry.Server.Scheduling;

/// <summary>
/// A task that completes at the next change of the scheduler's state (containers, dispatch, outputs), then is
/// replaced, so waiters look again under the lock instead of polling. Pulsed under the scheduler's lock.
/// </summary>
internal sealed class ChangeSignal
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Next => _next.Task;

    public void Pulse()
    {
        var changed = _next;
        _next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
    }
}
