using System.Security.Cryptography;
using System.Text;
using FluentAssertions;
using Ferry.Server.Objects;

namespace Ferry.Tests.Server.Objects;

public sealed class SecretVaultTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ferry-vault-" + Guid.NewGuid().ToString("N")[..8]);

    private string KeyFile => Path.Combine(_dir, "secrets.key");

    [Fact]
    public void Seal_ThenOpen_RoundTripsWithoutThePlaintextInTheSealedBytes()
    {
        var vault = SecretVault.Open(KeyFile);
        var sealedValue = vault.Seal("api", new Dictionary<string, string> { ["API_KEY"] = "plain-text-value" });

        Encoding.UTF8.GetString(sealedValue).Should().NotContain("plain-text-value");
        SecretVault.Open(KeyFile).Open("api", sealedValue).Should().Equal(new Dictionary<string, string> { ["API_KEY"] = "plain-text-value" });
        if (!OperatingSystem.IsWindows())
        {
            File.GetUnixFileMode(KeyFile).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    [Fact]
    public void Open_UnderAnotherNameOrKeyOrAltered_Fails()
    {
        var vault = SecretVault.Open(KeyFile);
        var sealedValue = vault.Seal("api", new Dictionary<string, string> { ["K"] = "v" });
        var otherVault = SecretVault.Open(Path.Combine(_dir, "other.key"));
        var altered = (byte[])sealedValue.Clone();
        altered[^1] ^= 1;

        FluentActions.Invoking(() => vault.Open("other", sealedValue)).Should().Throw<CryptographicException>();
        FluentActions.Invoking(() => otherVault.Open("api", sealedValue)).Should().Throw<CryptographicException>();
        FluentActions.Invoking(() => vault.Open("api", altered)).Should().Throw<CryptographicException>();
    }

    [Fact]
    public void Open_KeyFileWithoutAKey_NamesTheFile()
    {
        Directory.CreateDirectory(_dir);
        File.WriteAllText(KeyFile, "not a key");

        FluentActions.Invoking(() => SecretVault.Open(KeyFile)).Should().Throw<InvalidOperationException>()
            .WithMessage($"The secrets key file {KeyFile} does not hold a base64 32-byte key*");
    }

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}
