using System.Net.Sockets;
using System.Text.Json;
using Ferry.Protocol;

namespace Ferry.Hosting;

/// <summary>
/// Tells <c>ferry run</c> which maps this local program starts, on the socket it names in
/// <see cref="FerryEnv.ProgressSocket"/>, so the CLI can draw their progress from the calls' counts. Best effort: a
/// socket that is missing or gone costs the program nothing but the bar.
/// </summary>
internal static class MapAnnouncer
{
    private static readonly Lock Gate = new();
    private static Socket? _socket;
    private static bool _tried;

    public static void Announce(string callId, string function, string kind)
    {
        if (FerryContext.Mode != FerryModes.Local || Environment.GetEnvironmentVariable(FerryEnv.ProgressSocket) is not { Length: > 0 } path)
        {
            return;
        }
        var line = JsonSerializer.SerializeToUtf8Bytes(new MapStarted(callId, function, kind), ProtocolJsonContext.Default.MapStarted);
        lock (Gate)
        {
            try
            {
                if (!_tried)
                {
                    _tried = true;
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    socket.Connect(new UnixDomainSocketEndPoint(path));
                    _socket = socket;
                }
                if (_socket is not null)
                {
                    _socket.Send([.. line, (byte)'\n']);
                }
            }
            catch (SocketException)
            {
                _socket?.Dispose();
                _socket = null;
            }
        }
    }
}
