using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using Ferry.Protocol;

namespace Ferry.Server.Sessions;

/// <summary>
/// Pairs a client's session socket (<c>ferry container exec</c>, <c>ferry shell</c>) with the socket the worker opens
/// for it, and relays binary frames between them until either side ends. The control plane never interprets the
/// bytes, so a session costs it two sockets and a copy loop.
/// </summary>
internal sealed class SessionBroker
{
    private static readonly TimeSpan AttachTimeout = TimeSpan.FromSeconds(30);
    private readonly ConcurrentDictionary<string, Pending> _pending = new(StringComparer.Ordinal);

    private sealed class Pending
    {
        public TaskCompletionSource<WebSocket> Worker { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Registers a session the worker is about to be told to open.</summary>
    public string Create()
    {
        var id = Ids.New("ss");
        _pending[id] = new Pending();
        return id;
    }

    /// <summary>Relays the client's socket to the worker's, once the worker attaches.</summary>
    public async Task RunAsync(string sessionId, WebSocket client, CancellationToken cancellationToken)
    {
        if (!_pending.TryGetValue(sessionId, out var pending))
        {
            return;
        }
        try
        {
            WebSocket worker;
            try
            {
                worker = await pending.Worker.Task.WaitAsync(AttachTimeout, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                await FailAsync(client, "The worker did not open the session within 30 s.", cancellationToken).ConfigureAwait(false);
                return;
            }
            var up = CopyAsync(client, worker, cancellationToken);
            var down = CopyAsync(worker, client, cancellationToken);
            if (await Task.WhenAny(up, down).ConfigureAwait(false) == up)
            {
                // The client left: tell the worker, which ends the command and closes its side.
                await CloseOutputAsync(worker).ConfigureAwait(false);
                await down.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            else
            {
                // The worker finished (its exit frame has been passed on): close gently, so the client reads every frame.
                await CloseOutputAsync(client).ConfigureAwait(false);
                await up.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
        finally
        {
            _pending.TryRemove(sessionId, out _);
            pending.Done.TrySetResult();
        }
    }

    /// <summary>The worker's socket for a session; returns when the session ends.</summary>
    public async Task AttachAsync(string sessionId, WebSocket worker)
    {
        if (!_pending.TryGetValue(sessionId, out var pending) || !pending.Worker.TrySetResult(worker))
        {
            await CloseAsync(worker).ConfigureAwait(false);
            return;
        }
        await pending.Done.Task.ConfigureAwait(false);
        await CloseAsync(worker).ConfigureAwait(false);
    }

    /// <summary>Ends a session before it reached a worker, telling the client why on its stderr.</summary>
    public static async Task FailAsync(WebSocket client, string message, CancellationToken cancellationToken)
    {
        await SendAsync(client, SessionFrames.Stderr, Encoding.UTF8.GetBytes(message + "\n"), cancellationToken).ConfigureAwait(false);
        await SendAsync(client, SessionFrames.Exit, "125"u8.ToArray(), cancellationToken).ConfigureAwait(false);
        await CloseAsync(client).ConfigureAwait(false);
    }

    public void Abandon(string sessionId) => _pending.TryRemove(sessionId, out _);

    private static Task SendAsync(WebSocket socket, byte kind, byte[] payload, CancellationToken cancellationToken) =>
        socket.SendAsync((byte[])[kind, .. payload], WebSocketMessageType.Binary, true, cancellationToken);

    private static async Task CopyAsync(WebSocket from, WebSocket to, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var result = await from.ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
                await to.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }
    }

    private static async Task CloseOutputAsync(WebSocket socket)
    {
        try
        {
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (WebSocketException)
        {
        }
    }

    private static async Task CloseAsync(WebSocket socket)
    {
        try
        {
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }
    }
}
