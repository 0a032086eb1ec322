namespace Ferry.Server;

/// <summary>
/// A port the server was told to listen on is held by another program. The message names the port, the address and
/// which listener (the control plane's API or the web gateway) could not have it.
/// </summary>
internal sealed class PortInUseException(string listener, string bind, int port, Exception inner)
    : Exception($"Port {port} on {bind} is in use by another program, so the {listener} cannot listen there.", inner)
{
    /// <summary>The control plane's API, or the web gateway.</summary>
    public string Listener { get; } = listener;

    public int Port { get; } = port;

    /// <summary>Whether <paramref name="e"/> is Kestrel's failure to bind a port another socket holds.</summary>
    public static bool IsPortTaken(Exception e) => e is IOException { InnerException: Microsoft.AspNetCore.Connections.AddressInUseException };
}
