using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Ferry.Server.Security;

/// <summary>The server's TLS certificate: one the operator gives, or a self-signed one kept in the data dir.</summary>
public static class TlsCertificates
{
    /// <summary>
    /// Loads <paramref name="certificatePath"/> (PEM with <paramref name="keyPath"/>, or PKCS#12 alone), or, without
    /// one, the self-signed certificate in <paramref name="dataDir"/>, made on first use and kept readable by its
    /// owner only, so its fingerprint stays the same across restarts.
    /// </summary>
    public static X509Certificate2 Load(string? certificatePath, string? keyPath, string dataDir)
    {
        if (certificatePath is not null)
        {
            return keyPath is not null
                ? X509Certificate2.CreateFromPemFile(certificatePath, keyPath)
                : X509CertificateLoader.LoadPkcs12FromFile(certificatePath, password: null);
        }
        var path = Path.Combine(dataDir, "tls.pfx");
        if (File.Exists(path))
        {
            return X509CertificateLoader.LoadPkcs12FromFile(path, password: null);
        }
        Directory.CreateDirectory(dataDir);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=ferry-server", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddDnsName(Dns.GetHostName());
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        var now = DateTimeOffset.UtcNow;
        using var created = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(5));
        var pfx = created.Export(X509ContentType.Pfx);
        PrivateFiles.Write(path, pfx);
        return X509CertificateLoader.LoadPkcs12(pfx, password: null);
    }
}
