using System.Net;
using System.Net.Sockets;

namespace Ferry.Worker.Runtimes;

/// <summary>The ports web functions' servers listen on inside their containers.</summary>
internal static class WebPorts
{
    /// <summary>The port of ASP.NET Core endpoints in a container with a network of its own.</summary>
    public const int Default = 8000;

    /// <summary>
    /// A loopback port no one listens on now, for a container that shares the host's network. The kernel picks it; the
    /// container binds it moments later, and a rare collision fails that container's start, which the scheduler retries.
    /// </summary>
    public static int FreeLoopbackPort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
