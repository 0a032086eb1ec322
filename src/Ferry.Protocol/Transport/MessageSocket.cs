using System.Buffers;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Ferry.Protocol.Transport;

/// <summary>
/// JSON messages over a <see cref="WebSocket"/>: one text message per value, which the peer may split over several frames.
/// Sends <typeparamref name="TOut"/> and receives <typeparamref name="TIn"/>; queues, batching and reconnecting are the
/// caller's. Like the socket it wraps, it allows one send and one receive at a time, which may overlap each other.
/// It does not own the socket: dispose the socket yourself.
/// </summary>
/// <typeparam name="TIn">The type of messages received.</typeparam>
/// <typeparam name="TOut">The type of messages sent.</typeparam>
public sealed class MessageSocket<TIn, TOut>
    where TIn : class
{
    /// <summary>
    /// The default largest message <see cref="ReceiveAsync"/> accepts: 1 GiB. Stream messages carry batches of inputs or
    /// outputs, each up to <see cref="ProtocolInfo.InlinePayloadLimit"/> inline, so the limit sits well above any batch
    /// the protocol produces and only stops a runaway peer.
    /// </summary>
    public const int DefaultMaxMessageBytes = 1024 * 1024 * 1024;

    private const int InitialReceiveBytes = 16 * 1024;

    // Kept after a message only up to this size, so one large batch does not pin its buffer for the connection's life.
    private const int RetainedReceiveBytes = 1024 * 1024;

    private readonly WebSocket _socket;
    private readonly JsonTypeInfo<TIn> _inType;
    private readonly JsonTypeInfo<TOut> _outType;
    private readonly int _maxMessageBytes;
    private readonly PooledBufferWriter _sendBuffer = new();
    private Utf8JsonWriter? _writer;
    private byte[] _receiveBuffer = new byte[InitialReceiveBytes];

    /// <summary>Wraps <paramref name="socket"/>.</summary>
    /// <param name="socket">An open WebSocket.</param>
    /// <param name="inType">The source-generated type info messages are read with.</param>
    /// <param name="outType">The source-generated type info messages are written with.</param>
    /// <param name="maxMessageBytes">The largest message accepted; defaults to <see cref="DefaultMaxMessageBytes"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxMessageBytes"/> is not positive.</exception>
    public MessageSocket(WebSocket socket, JsonTypeInfo<TIn> inType, JsonTypeInfo<TOut> outType, int maxMessageBytes = DefaultMaxMessageBytes)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(inType);
        ArgumentNullException.ThrowIfNull(outType);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxMessageBytes);
        _socket = socket;
        _inType = inType;
        _outType = outType;
        _maxMessageBytes = maxMessageBytes;
    }

    /// <summary>The socket's state.</summary>
    public WebSocketState State => _socket.State;

    /// <summary>The status the peer closed with, or <see langword="null"/> while it has not.</summary>
    public WebSocketCloseStatus? CloseStatus => _socket.CloseStatus;

    /// <summary>The description the peer closed with, or <see langword="null"/>.</summary>
    public string? CloseStatusDescription => _socket.CloseStatusDescription;

    /// <summary>Sends <paramref name="message"/> as one text message.</summary>
    /// <exception cref="WebSocketException">The socket failed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async ValueTask SendAsync(TOut message, CancellationToken cancellationToken = default)
    {
        try
        {
            if (_writer is null)
            {
                _writer = new Utf8JsonWriter(_sendBuffer);
            }
            else
            {
                _writer.Reset(_sendBuffer);
            }
            JsonSerializer.Serialize(_writer, message, _outType);
            await _socket.SendAsync(_sendBuffer.WrittenMemory, WebSocketMessageType.Text, true, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _sendBuffer.Release();
        }
    }

    /// <summary>
    /// Receives the next message, assembling its frames; returns <see langword="null"/> once the peer has closed (see
    /// <see cref="CloseStatus"/>). A message that is JSON <c>null</c> is skipped.
    /// </summary>
    /// <exception cref="InvalidDataException">
    /// The message is not valid JSON for <typeparamref name="TIn"/>, or it is larger than the limit; after the latter the
    /// rest of that message is unread, so close the socket rather than receive again.
    /// </exception>
    /// <exception cref="WebSocketException">The socket failed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async ValueTask<TIn?> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var count = 0;
            ValueWebSocketReceiveResult result;
            do
            {
                if (count == _receiveBuffer.Length)
                {
                    Grow(count);
                }
                result = await _socket.ReceiveAsync(_receiveBuffer.AsMemory(count), cancellationToken).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return null;
                }
                count += result.Count;
            }
            while (!result.EndOfMessage);

            TIn? message;
            try
            {
                message = JsonSerializer.Deserialize(_receiveBuffer.AsSpan(0, count), _inType);
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"The peer sent a message that is not valid: {e.Message}", e);
            }
            finally
            {
                if (_receiveBuffer.Length > RetainedReceiveBytes)
                {
                    _receiveBuffer = new byte[InitialReceiveBytes];
                }
            }
            if (message is not null)
            {
                return message;
            }
        }
    }

    /// <summary>Receives messages until the peer closes, as <see cref="ReceiveAsync"/> does.</summary>
    /// <exception cref="InvalidDataException">A message is larger than the limit or is not valid.</exception>
    /// <exception cref="WebSocketException">The socket failed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async IAsyncEnumerable<TIn> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        while (await ReceiveAsync(cancellationToken).ConfigureAwait(false) is { } message)
        {
            yield return message;
        }
    }

    /// <summary>
    /// Sends a close frame without waiting for the peer's, if this side has not sent one and the socket is not aborted;
    /// otherwise does nothing. After the peer has closed, this completes the closing handshake.
    /// </summary>
    /// <exception cref="WebSocketException">The socket failed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task CloseOutputAsync(WebSocketCloseStatus status, string? description, CancellationToken cancellationToken = default) =>
        CanClose
            ? _socket.CloseOutputAsync(status, description, cancellationToken)
            : Task.CompletedTask;

    /// <summary>
    /// Sends a close frame and waits for the peer's, if this side has not sent one and the socket is not aborted;
    /// otherwise does nothing. Do not call it while a <see cref="ReceiveAsync"/> is pending.
    /// </summary>
    /// <exception cref="WebSocketException">The socket failed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task CloseAsync(WebSocketCloseStatus status, string? description, CancellationToken cancellationToken = default) =>
        CanClose
            ? _socket.CloseAsync(status, description, cancellationToken)
            : Task.CompletedTask;

    private bool CanClose => _socket.State is WebSocketState.Open or WebSocketState.CloseReceived;

    private void Grow(int count)
    {
        if (count >= _maxMessageBytes)
        {
            _receiveBuffer = new byte[InitialReceiveBytes];
            throw new InvalidDataException($"The peer sent a message larger than the limit of {_maxMessageBytes} bytes.");
        }
        // One byte past the limit is room enough to tell a message at the limit from one over it.
        var size = (int)Math.Min((long)_maxMessageBytes + 1, Math.Max((long)count * 2, InitialReceiveBytes));
        var grown = new byte[size];
        _receiveBuffer.AsSpan(0, count).CopyTo(grown);
        _receiveBuffer = grown;
    }

    /// <summary>A growable buffer rented from the shared pool and returned after each send.</summary>
    private sealed class PooledBufferWriter : IBufferWriter<byte>
    {
        private byte[] _buffer = [];
        private int _written;

        public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _written);

        public void Advance(int count) => _written += count;

        public Memory<byte> GetMemory(int sizeHint = 0)
        {
            Ensure(sizeHint);
            return _buffer.AsMemory(_written);
        }

        public Span<byte> GetSpan(int sizeHint = 0)
        {
            Ensure(sizeHint);
            return _buffer.AsSpan(_written);
        }

        public void Release()
        {
            if (_buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = [];
            }
            _written = 0;
        }

        private void Ensure(int sizeHint)
        {
            var needed = _written + Math.Max(sizeHint, 1);
            if (needed <= _buffer.Length)
            {
                return;
            }
            var grown = ArrayPool<byte>.Shared.Rent(Math.Max(needed, Math.Max(_buffer.Length * 2, 4096)));
            _buffer.AsSpan(0, _written).CopyTo(grown);
            if (_buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
            }
            _buffer = grown;
        }
    }
}
