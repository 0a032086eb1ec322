using Ferry.Protocol;

namespace Ferry.Client;

/// <summary>
/// Keeps an ephemeral app alive while its client runs: a heartbeat every quarter of the timeout the server answers
/// with. When the client process dies, heartbeats stop and the server stops the app after that timeout.
/// </summary>
internal sealed class AppHeartbeat : IAsyncDisposable
{
    private static readonly TimeSpan FirstInterval = TimeSpan.FromSeconds(5);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private AppHeartbeat(FerryClient client, string appId, TimeProvider clock) => _loop = RunAsync(client, appId, clock, _stop.Token);

    /// <summary>Starts sending heartbeats for <paramref name="appId"/>; disposing stops them.</summary>
    public static AppHeartbeat Start(FerryClient client, string appId, TimeProvider? clock = null) => new(client, appId, clock ?? TimeProvider.System);

    private static async Task RunAsync(FerryClient client, string appId, TimeProvider clock, CancellationToken cancellationToken)
    {
        var interval = FirstInterval;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                limit.CancelAfter(interval);
                var answer = await client.SendAsync<object, HeartbeatResponse>(HttpMethod.Post, Routes.Heartbeat(appId), null, null,
                    ProtocolJsonContext.Default.HeartbeatResponse, limit.Token).ConfigureAwait(false);
                interval = TimeSpan.FromSeconds(Math.Max(0.25, answer.TimeoutSeconds / 4));
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // The server did not answer within one interval; the next heartbeat tries again.
            }
            catch (FerryException)
            {
                // The app is stopped or the server is restarting: the next heartbeat tries again, or the run ends.
            }
            try
            {
                await Task.Delay(interval, clock, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
    }
}
