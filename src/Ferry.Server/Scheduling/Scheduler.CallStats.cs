using Ferry.Protocol;

namespace Ferry.Server.Scheduling;

internal sealed partial class Scheduler
{
    /// <summary>
    /// How many of a call's inputs succeeded, failed and are pending: from memory while the call is held there, else
    /// counted in the store, without loading the call.
    /// </summary>
    public async Task<CallProgress> GetCallProgressAsync(string callId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_calls.TryGetValue(callId, out var call))
            {
                var failed = call.FailedBefore;
                foreach (var output in call.Outputs)
                {
                    failed += output.Success ? 0 : 1;
                }
                return new CallProgress(callId, call.Indices.Count, (int)(call.Published - failed), (int)failed, call.Final);
            }
        }
        var record = await callStore.GetCallAsync(callId, cancellationToken).ConfigureAwait(false)
            ?? throw new NotFoundException($"No call has the id '{callId}'.");
        var (total, completed) = await callStore.CountInputsAsync(callId, cancellationToken).ConfigureAwait(false);
        var failedInStore = await callStore.CountFailedAsync(callId, cancellationToken).ConfigureAwait(false);
        return new CallProgress(callId, total, completed - failedInStore, failedInStore, record.Final);
    }
}
