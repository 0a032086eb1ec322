using System.Net.Sockets;

namespace Ferry.Server;

/// <summary>Why a listener could not have its address.</summary>
internal enum ListenFailure
{
    /// <summary>Another program holds the port.</summary>
    PortInUse,

    /// <summary>The port is below 1024 and the process may not bind such ports.</summary>
    PortReserved,

    /// <summary>The address to bind is not one of this machine's.</summary>
    AddressNotHere,
}

/// <summary>
/// A listener the server starts (the control plane's API, or the web gateway) could not bind its address. The message
/// says which, where and why, in the user's terms; <see cref="Failure"/> tells the caller which setting to point at.
/// </summary>
internal sealed class ListenException(string listener, ListenFailure failure, string bind, int port, Exception inner)
    : Exception(Describe(listener, failure, bind, port), inner)
{
    /// <summary>The control plane's API, or the web gateway.</summary>
    public string Listener { get; } = listener;

    public ListenFailure Failure { get; } = failure;

    /// <summary>
    /// The failure behind Kestrel's exception when it is one a user can fix by choosing another address or port; null
    /// for any other exception.
    /// </summary>
    public static ListenFailure? FailureOf(Exception e) => e switch
    {
        IOException { InnerException: Microsoft.AspNetCore.Connections.AddressInUseException } => ListenFailure.PortInUse,
        SocketException { SocketErrorCode: SocketError.AccessDenied } => ListenFailure.PortReserved,
        SocketException { SocketErrorCode: SocketError.AddressNotAvailable } => ListenFailure.AddressNotHere,
        _ => null,
    };

    /// <summary>The message for <paramref name="listener"/> failing with <paramref name="failure"/> on <paramref name="bind"/>:<paramref name="port"/>.</summary>
    public static string Describe(string listener, ListenFailure failure, string bind, int port) => failure switch
    {
        ListenFailure.PortInUse => $"Port {port} on {bind} is in use by another program, so the {listener} cannot listen there.",
        ListenFailure.PortReserved => $"Port {port} is below 1024, which only root may listen on, so the {listener} cannot listen there.",
        _ => $"{bind} is not an address of this machine, so the {listener} cannot listen on it.",
    };
}
