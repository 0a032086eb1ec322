using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Ferry.Cli;

/// <summary>
/// Picks a loopback port for a server that must keep its address across restarts. A port the kernel hands out with
/// bind(0) comes from the ephemeral range, which is also where every outgoing connection on the machine takes its local
/// port: a server that stops for a moment can find its port taken by some client's connection. So the port is drawn
/// from below that range instead, where the kernel never assigns ports on its own.
/// </summary>
internal static class ListenPort
{
    private const int Lowest = 10_000;
    private const string EphemeralRangeFile = "/proc/sys/net/ipv4/ip_local_port_range";

    /// <summary>A loopback port that was free when asked, outside the kernel's ephemeral range where it can tell.</summary>
    public static int Pick()
    {
        var below = EphemeralStart();
        if (below > Lowest + 1_000)
        {
            for (var attempt = 0; attempt < 64; attempt++)
            {
                var port = Random.Shared.Next(Lowest, below);
                if (IsFree(port))
                {
                    return port;
                }
            }
        }
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Whether a listener can bind <paramref name="port"/> on loopback now.</summary>
    public static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>The first port of the kernel's ephemeral range; 0 where it cannot be read (then any port may be taken).</summary>
    private static int EphemeralStart()
    {
        try
        {
            var fields = File.ReadAllText(EphemeralRangeFile).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            return fields.Length > 0 && int.TryParse(fields[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var start) ? start : 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }
}
