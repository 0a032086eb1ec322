using System.Net.Sockets;
using FluentAssertions;
using Ferry.Server;
using Microsoft.AspNetCore.Connections;

namespace Ferry.Tests;

public sealed class ListenExceptionTests
{
    [Fact]
    public void Kestrels_bind_failures_map_to_what_the_user_can_change()
    {
        ListenException.FailureOf(new IOException("Failed to bind", new AddressInUseException("in use"))).Should().Be(ListenFailure.PortInUse);
        ListenException.FailureOf(new SocketException((int)SocketError.AccessDenied)).Should().Be(ListenFailure.PortReserved);
        ListenException.FailureOf(new SocketException((int)SocketError.AddressNotAvailable)).Should().Be(ListenFailure.AddressNotHere);
        ListenException.FailureOf(new SocketException((int)SocketError.NetworkDown)).Should().BeNull();
        ListenException.FailureOf(new IOException("disk full")).Should().BeNull();
    }

    [Fact]
    public void The_message_names_the_listener_the_address_and_why()
    {
        ListenException.Describe("web gateway", ListenFailure.PortInUse, "0.0.0.0", 7326)
            .Should().Be("Port 7326 on 0.0.0.0 is in use by another program, so the web gateway cannot listen there.");
        ListenException.Describe("control plane", ListenFailure.PortReserved, "127.0.0.1", 80)
            .Should().Be("Port 80 is below 1024, which only root may listen on, so the control plane cannot listen there.");
    }
}
