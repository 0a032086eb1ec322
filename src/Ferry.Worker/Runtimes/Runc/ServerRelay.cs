using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.Extensions.Logging;

namespace Ferry.Worker.Runtimes.Runc;

/// <summary>
/// The containers' only way to the control plane: listens on the container network's gateway and relays each TCP
/// connection byte for byte to the control plane's URL, so HTTP/1.1 requests, WebSocket upgrades and every header,
/// the containers' bearer tokens included, arrive as the container sent them. When the control plane's URL is https,
/// the relay speaks TLS to it, validating its certificate as the worker's own HttpClient does (the system's trust
/// store and the host name), and containers speak plain HTTP to the relay.
/// </summary>
/// <remarks>
/// Written here because nothing in reach relays raw TCP: YARP, the one proxy library on hand, works at the HTTP layer,
/// where it rewrites Host, adds forwarding headers and needs a Kestrel host of its own, while a byte relay is two
/// stream copies. The control plane sees relayed connections as coming from the worker, so it must tell containers
/// apart by their tokens, never by their source address.
/// </remarks>
internal sealed partial class ServerRelay : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Uri _upstream;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Connection, byte> _connections = new();
    private readonly Task _accepting;
    private readonly RemoteCertificateValidationCallback? _validate;

    /// <summary>Starts listening on an ephemeral port of <paramref name="address"/>.</summary>
    /// <param name="address">The address to listen on: the container network's gateway.</param>
    /// <param name="upstream">The control plane's URL.</param>
    /// <param name="logger">Where failed connections to the control plane are logged.</param>
    /// <param name="validate">Replaces the default certificate validation; only tests, with a certificate of their own, pass one.</param>
    public ServerRelay(IPAddress address, Uri upstream, ILogger logger, RemoteCertificateValidationCallback? validate = null)
    {
        _upstream = upstream;
        _logger = logger;
        _validate = validate;
        _listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            _listener.Bind(new IPEndPoint(address, 0));
            _listener.Listen(512);
        }
        catch
        {
            _listener.Dispose();
            throw;
        }
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _accepting = AcceptAsync();
    }

    /// <summary>The port the relay listens on.</summary>
    public int Port { get; }

    /// <summary>How many connections are being relayed now.</summary>
    public int OpenConnections => _connections.Count;

    /// <summary>Closes every relayed connection a container at <paramref name="source"/> opened, once it has ended.</summary>
    public void CloseFrom(IPAddress source)
    {
        foreach (var connection in _connections.Keys.Where(c => c.Source.Equals(source)))
        {
            connection.Close();
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Interrupted)
            {
                // The container gave up before the connection was accepted.
                continue;
            }
            catch (SocketException e)
            {
                // Out of descriptors, say: the listener lives on, and tries again once the moment has passed.
                LogAcceptFailed(_logger, e.SocketErrorCode);
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(100), _stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                continue;
            }
            _ = RelayAsync(client);
        }
    }

    private async Task RelayAsync(Socket client)
    {
        client.NoDelay = true;
        var connection = new Connection(client, ((IPEndPoint)client.RemoteEndPoint!).Address);
        _connections[connection] = 0;
        try
        {
            Stream upstream;
            try
            {
                upstream = await ConnectAsync(connection).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or IOException or AuthenticationException or OperationCanceledException)
            {
                LogUpstreamFailed(_logger, _upstream, e.Message);
                return;
            }
            await using (upstream.ConfigureAwait(false))
            {
                var fromContainer = new NetworkStream(client, ownsSocket: false);
                await using (fromContainer.ConfigureAwait(false))
                {
                    await Task.WhenAll(
                        PumpAsync(fromContainer, upstream, connection, () => CloseWriteAsync(upstream, connection.Upstream!)),
                        PumpAsync(upstream, fromContainer, connection, () => CloseWriteAsync(fromContainer, client))).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            _connections.TryRemove(connection, out _);
            connection.Dispose();
        }
    }

    private async Task<Stream> ConnectAsync(Connection connection)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        connection.Upstream = socket;
        await socket.ConnectAsync(_upstream.DnsSafeHost, _upstream.Port, _stop.Token).ConfigureAwait(false);
        var stream = new NetworkStream(socket, ownsSocket: false);
        if (_upstream.Scheme != Uri.UriSchemeHttps)
        {
            return stream;
        }
        var tls = new SslStream(stream, leaveInnerStreamOpen: false);
        try
        {
            // Without a callback, the same checks as the worker's HttpClient, which uses the default handler.
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = _upstream.IdnHost,
                ApplicationProtocols = [SslApplicationProtocol.Http11],
                RemoteCertificateValidationCallback = _validate,
            }, _stop.Token).ConfigureAwait(false);
        }
        catch
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return tls;
    }

    /// <summary>Copies until the source ends, then half-closes the destination; a failure closes the whole connection.</summary>
    private static async Task PumpAsync(Stream from, Stream to, Connection connection, Func<Task> closeWrite)
    {
        var buffer = new byte[32 * 1024];
        try
        {
            int read;
            while ((read = await from.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                await to.WriteAsync(buffer.AsMemory(0, read)).ConfigureAwait(false);
            }
            await closeWrite().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            connection.Close();
        }
    }

    private static async Task CloseWriteAsync(Stream stream, Socket socket)
    {
        if (stream is SslStream tls)
        {
            await tls.ShutdownAsync().ConfigureAwait(false);
        }
        socket.Shutdown(SocketShutdown.Send);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _accepting.ConfigureAwait(false);
        foreach (var connection in _connections.Keys)
        {
            connection.Close();
        }
        _stop.Dispose();
    }

    /// <summary>One relayed connection: the container's socket and, once connecting, the control plane's.</summary>
    private sealed class Connection(Socket client, IPAddress source) : IDisposable
    {
        public IPAddress Source => source;

        public Socket? Upstream { get; set; }

        /// <summary>
        /// Ends the connection at both ends with a FIN, which also wakes the pending reads, so the relay's copies end
        /// and dispose the sockets; disposing a socket with a read pending would reset the connection instead.
        /// </summary>
        public void Close()
        {
            Shutdown(client);
            Shutdown(Upstream);
        }

        private static void Shutdown(Socket? socket)
        {
            try
            {
                socket?.Shutdown(SocketShutdown.Both);
            }
            catch (SocketException)
            {
                // Not connected yet: disposing it abandons the connect.
                socket!.Dispose();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        public void Dispose()
        {
            client.Dispose();
            Upstream?.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A container's connection to the control plane at {Upstream} failed: {Reason}")]
    private static partial void LogUpstreamFailed(ILogger logger, Uri upstream, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The relay to the control plane could not accept a connection: {Error}")]
    private static partial void LogAcceptFailed(ILogger logger, SocketError error);
}
