using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Ferry.Protocol;

/// <summary>How every party presents its token and checks the server's certificate.</summary>
public static class Credentials
{
    /// <summary>The <c>Authorization</c> header value for a token.</summary>
    public static AuthenticationHeaderValue Header(string token) => new(ProtocolInfo.AuthScheme, token);

    /// <summary>Adds the token to a WebSocket's handshake and pins the server's certificate where a fingerprint is given.</summary>
    public static void Apply(ClientWebSocketOptions options, string? token, string? fingerprint)
    {
        if (!string.IsNullOrEmpty(token))
        {
            options.SetRequestHeader("Authorization", Header(token).ToString());
        }
        if (Validator(fingerprint) is { } validate)
        {
            options.RemoteCertificateValidationCallback = validate;
        }
    }

    /// <summary>An HTTP handler that pins the server's certificate where a fingerprint is given.</summary>
    public static SocketsHttpHandler Handler(string? fingerprint)
    {
        var handler = new SocketsHttpHandler
        {
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            MaxConnectionsPerServer = 64,
        };
        if (Validator(fingerprint) is { } validate)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = validate;
        }
        return handler;
    }

    /// <summary>
    /// With a fingerprint, accepts exactly the certificate whose SHA-256 it is (a self-signed server certificate, which
    /// no authority vouches for); without one, the platform's usual validation applies.
    /// </summary>
    public static RemoteCertificateValidationCallback? Validator(string? fingerprint)
    {
        if (string.IsNullOrEmpty(fingerprint))
        {
            return null;
        }
        var expected = Normalize(fingerprint);
        return (_, certificate, _, errors) => certificate is not null
            ? Fingerprint(certificate) == expected
            : errors == SslPolicyErrors.None;
    }

    /// <summary>A certificate's SHA-256 fingerprint as colon-separated upper-case hex, as <c>openssl x509 -fingerprint</c> prints it.</summary>
    public static string Fingerprint(X509Certificate certificate) =>
        string.Join(':', SHA256.HashData(certificate.GetRawCertData()).Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));

    private static string Normalize(string fingerprint) =>
        string.Join(':', fingerprint.Replace(":", "", StringComparison.Ordinal).Trim().ToUpperInvariant().Chunk(2).Select(c => new string(c)));
}
