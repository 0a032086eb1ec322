using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using FluentAssertions;
using Ferry.Worker.Runtimes.Runc;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ferry.Tests;

public sealed class ServerRelayTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static readonly byte[] Request = Encoding.ASCII.GetBytes(
        "GET /v1/containers/ct-1/stream HTTP/1.1\r\nHost: 10.213.42.1:40000\r\nAuthorization: Bearer token-of-ct-1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");

    private static readonly byte[] Answer = Encoding.ASCII.GetBytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\u0081\u0002hi");

    [Fact]
    public async Task Bytes_pass_untouched_both_ways_and_a_half_close_reaches_the_other_side()
    {
        using var upstream = new TcpListener(IPAddress.Loopback, 0);
        upstream.Start();
        await using var relay = new ServerRelay(IPAddress.Loopback, new Uri($"http://127.0.0.1:{Port(upstream)}/"), NullLogger.Instance);
        using var container = new TcpClient();

        await container.ConnectAsync(IPAddress.Loopback, relay.Port).WaitAsync(Timeout);
        var toRelay = container.GetStream();
        await toRelay.WriteAsync(Request);
        container.Client.Shutdown(SocketShutdown.Send);
        using var server = await upstream.AcceptTcpClientAsync().WaitAsync(Timeout);
        var received = await ReadToEndAsync(server.GetStream());
        await server.GetStream().WriteAsync(Answer);
        server.Client.Shutdown(SocketShutdown.Send);
        var answered = await ReadToEndAsync(toRelay);

        received.Should().Equal(Request, "headers, the bearer token included, reach the control plane as sent, and the container's end of input reaches it too");
        answered.Should().Equal(Answer);
    }

    [Fact]
    public async Task An_https_control_plane_is_spoken_to_over_tls_while_the_container_speaks_plain_tcp()
    {
        using var certificate = SelfSigned();
        using var upstream = new TcpListener(IPAddress.Loopback, 0);
        upstream.Start();
        await using var relay = new ServerRelay(IPAddress.Loopback, new Uri($"https://localhost:{Port(upstream)}/"), NullLogger.Instance,
            (_, presented, _, _) => presented?.GetCertHashString() == certificate.GetCertHashString());
        using var container = new TcpClient();

        await container.ConnectAsync(IPAddress.Loopback, relay.Port).WaitAsync(Timeout);
        var toRelay = container.GetStream();
        await toRelay.WriteAsync(Request);
        container.Client.Shutdown(SocketShutdown.Send);
        using var server = await upstream.AcceptTcpClientAsync().WaitAsync(Timeout);
        await using var tls = new SslStream(server.GetStream());
        // Like Kestrel, the server would rather speak HTTP/2; the relay asks for HTTP/1.1, which is what containers send.
        await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificate = certificate,
            ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
        }).WaitAsync(Timeout);
        var received = await ReadToEndAsync(tls);
        await tls.WriteAsync(Answer);
        await tls.ShutdownAsync();
        var answered = await ReadToEndAsync(toRelay);

        tls.NegotiatedApplicationProtocol.Should().Be(SslApplicationProtocol.Http11);
        received.Should().Equal(Request);
        answered.Should().Equal(Answer);
    }

    [Fact]
    public async Task An_untrusted_certificate_closes_the_containers_connection_without_relaying_anything()
    {
        using var certificate = SelfSigned();
        using var upstream = new TcpListener(IPAddress.Loopback, 0);
        upstream.Start();
        await using var relay = new ServerRelay(IPAddress.Loopback, new Uri($"https://localhost:{Port(upstream)}/"), NullLogger.Instance);
        using var container = new TcpClient();

        await container.ConnectAsync(IPAddress.Loopback, relay.Port).WaitAsync(Timeout);
        var toRelay = container.GetStream();
        using var server = await upstream.AcceptTcpClientAsync().WaitAsync(Timeout);
        var received = await ReceiveOverTlsAsync(server, certificate);
        var answered = await ReadToEndAsync(toRelay);

        received.Should().BeEmpty("the relay validates the certificate as the worker's HttpClient does, and a self-signed one fails");
        answered.Should().BeEmpty();
    }

    [Fact]
    public async Task Closing_a_containers_connections_ends_them_at_both_ends()
    {
        using var upstream = new TcpListener(IPAddress.Loopback, 0);
        upstream.Start();
        await using var relay = new ServerRelay(IPAddress.Loopback, new Uri($"http://127.0.0.1:{Port(upstream)}/"), NullLogger.Instance);
        using var container = new TcpClient();
        await container.ConnectAsync(IPAddress.Loopback, relay.Port).WaitAsync(Timeout);
        var toRelay = container.GetStream();
        using var server = await upstream.AcceptTcpClientAsync().WaitAsync(Timeout);

        relay.CloseFrom(IPAddress.Parse("10.213.42.2"));
        var stillOpen = relay.OpenConnections;
        relay.CloseFrom(IPAddress.Loopback);
        var atServer = await ReadToEndAsync(server.GetStream());
        var atContainer = await ReadToEndAsync(toRelay);

        stillOpen.Should().Be(1, "another container's address closes nothing");
        atServer.Should().BeEmpty();
        atContainer.Should().BeEmpty();
    }

    /// <summary>What the server got over TLS until the peer went away: nothing, if the handshake or the connection failed.</summary>
    private static async Task<byte[]> ReceiveOverTlsAsync(TcpClient server, X509Certificate2 certificate)
    {
        await using var tls = new SslStream(server.GetStream());
        try
        {
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = certificate }).WaitAsync(Timeout);
            return await ReadToEndAsync(tls);
        }
        catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException)
        {
            return [];
        }
    }

    private static int Port(TcpListener listener) => ((IPEndPoint)listener.LocalEndpoint).Port;

    private static async Task<byte[]> ReadToEndAsync(Stream stream)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer).WaitAsync(Timeout);
        return buffer.ToArray();
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        // Through PKCS#12, so the private key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), null);
    }
}
