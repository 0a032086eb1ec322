using System.Net.WebSockets;
using System.Text;
using Ferry.Protocol;
using Ferry.Worker.Runtimes;

namespace Ferry.Worker;

/// <summary>
/// The worker's end of a session: relays the client's stdin to a command and the command's stdout and stderr back,
/// as raw bytes (a prompt without a newline shows at once), then sends its exit code. Closing the socket from the
/// other side ends the command.
/// </summary>
internal static class SessionRelay
{
    public static async Task RunAsync(WorkerOptions options, string sessionId, Func<Action<string>, CancellationToken, Task<ISessionProcess>> start, CancellationToken cancellationToken)
    {
        var server = options.ServerUrl;
        using var socket = new ClientWebSocket();
        Credentials.Apply(socket.Options, options.Token, options.ServerFingerprint);
        var url = new UriBuilder(server)
        {
            Scheme = server.Scheme == "https" ? "wss" : "ws",
            Path = "/" + Routes.WorkerSession(sessionId),
        }.Uri;
        await socket.ConnectAsync(url, cancellationToken).ConfigureAwait(false);
        var send = new SemaphoreSlim(1, 1);

        async Task SendAsync(byte kind, ReadOnlyMemory<byte> payload)
        {
            var frame = new byte[payload.Length + 1];
            frame[0] = kind;
            payload.CopyTo(frame.AsMemory(1));
            await send.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            try
            {
                await socket.SendAsync(frame, WebSocketMessageType.Binary, true, CancellationToken.None).ConfigureAwait(false);
            }
            catch (WebSocketException)
            {
            }
            finally
            {
                send.Release();
            }
        }

        ISessionProcess session;
        // Progress (an image build's output, say) is reported from process events, synchronously: the lines queue here
        // and one pump sends them in order, rather than blocking the reporting thread on the socket.
        var progress = System.Threading.Channels.Channel.CreateUnbounded<string>(new System.Threading.Channels.UnboundedChannelOptions { SingleReader = true });
        var progressPump = Task.Run(async () =>
        {
            await foreach (var line in progress.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
            {
                await SendAsync(SessionFrames.Stderr, Encoding.UTF8.GetBytes(line + "\n")).ConfigureAwait(false);
            }
        }, CancellationToken.None);
        try
        {
            try
            {
                session = await start(line => progress.Writer.TryWrite(line), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                progress.Writer.TryComplete();
                await progressPump.ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await SendAsync(SessionFrames.Stderr, Encoding.UTF8.GetBytes(e.Message + "\n")).ConfigureAwait(false);
            await SendAsync(SessionFrames.Exit, "125"u8.ToArray()).ConfigureAwait(false);
            await CloseAsync(socket).ConfigureAwait(false);
            return;
        }
        await using (session.ConfigureAwait(false))
        {
            var process = session.Process;
            var stdout = PumpAsync(process.StandardOutput.BaseStream, SessionFrames.Stdout);
            var stderr = PumpAsync(process.StandardError.BaseStream, SessionFrames.Stderr);
            var input = ReceiveAsync();
            var exited = process.WaitForExitAsync(CancellationToken.None);
            if (await Task.WhenAny(exited, input).ConfigureAwait(false) == input && !process.HasExited)
            {
                // The client went away before the command ended; disposing the session ends the command.
                return;
            }
            await exited.ConfigureAwait(false);
            await Task.WhenAll(stdout, stderr).ConfigureAwait(false);
            await SendAsync(SessionFrames.Exit, Encoding.ASCII.GetBytes(process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture))).ConfigureAwait(false);
            try
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
            }
            catch (WebSocketException)
            {
            }
            // The receive loop ends when the other side answers the close.
            await input.WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

            async Task PumpAsync(Stream from, byte kind)
            {
                var buffer = new byte[16 * 1024];
                int read;
                while ((read = await from.ReadAsync(buffer, CancellationToken.None).ConfigureAwait(false)) > 0)
                {
                    await SendAsync(kind, buffer.AsMemory(0, read)).ConfigureAwait(false);
                }
            }

            async Task ReceiveAsync()
            {
                var buffer = new byte[64 * 1024];
                try
                {
                    while (true)
                    {
                        var result = await socket.ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false);
                        if (result.MessageType == WebSocketMessageType.Close)
                        {
                            return;
                        }
                        if (result.Count == 0)
                        {
                            continue;
                        }
                        switch (buffer[0])
                        {
                            case SessionFrames.Stdin:
                                await process.StandardInput.BaseStream.WriteAsync(buffer.AsMemory(1, result.Count - 1), cancellationToken).ConfigureAwait(false);
                                await process.StandardInput.BaseStream.FlushAsync(cancellationToken).ConfigureAwait(false);
                                break;
                            case SessionFrames.StdinClosed:
                                process.StandardInput.Close();
                                break;
                        }
                    }
                }
                catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
                {
                    // The socket failed, or the command stopped reading its stdin because it exited.
                }
            }
        }
    }

    private static async Task CloseAsync(ClientWebSocket socket)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }
    }
}
