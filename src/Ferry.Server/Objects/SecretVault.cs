using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Ferry.Protocol;
using Ferry.Server.Security;

namespace Ferry.Server.Objects;

/// <summary>
/// Seals secret values with AES-256-GCM under a key that lives in a file of its own, never in the store. A sealed
/// value is <c>version(1) | nonce(12) | tag(16) | ciphertext</c>; the secret's name is bound as associated data, so a
/// sealed value copied onto another secret's row does not open.
/// </summary>
internal sealed class SecretVault
{
    private const byte Version = 1;
    private readonly byte[] _key;

    private SecretVault(byte[] key) => _key = key;

    /// <summary>Reads the key file, creating it (mode 0600) with a fresh random key if it does not exist.</summary>
    /// <exception cref="InvalidOperationException">The file exists but does not hold a 32-byte key.</exception>
    public static SecretVault Open(string keyFile)
    {
        if (!File.Exists(keyFile))
        {
            PrivateFiles.Write(keyFile, Encoding.ASCII.GetBytes(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))));
        }
        byte[] key;
        try
        {
            key = Convert.FromBase64String(File.ReadAllText(keyFile).Trim());
        }
        catch (FormatException)
        {
            key = [];
        }
        return key.Length == 32
            ? new SecretVault(key)
            : throw new InvalidOperationException($"The secrets key file {keyFile} does not hold a base64 32-byte key; restore the original or move it away to start over (secrets sealed under it will not open).");
    }

    public byte[] Seal(string name, IReadOnlyDictionary<string, string> values)
    {
        var plain = JsonSerializer.SerializeToUtf8Bytes(values.ToDictionary(), ProtocolJsonContext.Default.DictionaryStringString);
        var sealedValue = new byte[1 + 12 + 16 + plain.Length];
        sealedValue[0] = Version;
        var nonce = sealedValue.AsSpan(1, 12);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, 16);
        aes.Encrypt(nonce, plain, sealedValue.AsSpan(29), sealedValue.AsSpan(13, 16), Encoding.UTF8.GetBytes(name));
        CryptographicOperations.ZeroMemory(plain);
        return sealedValue;
    }

    /// <exception cref="CryptographicException">The value was sealed under another key, or altered.</exception>
    public Dictionary<string, string> Open(string name, byte[] sealedValue)
    {
        if (sealedValue.Length < 29 || sealedValue[0] != Version)
        {
            throw new CryptographicException($"The stored value of secret '{name}' is not in a format this server reads.");
        }
        var plain = new byte[sealedValue.Length - 29];
        using var aes = new AesGcm(_key, 16);
        aes.Decrypt(sealedValue.AsSpan(1, 12), sealedValue.AsSpan(29), sealedValue.AsSpan(13, 16), plain, Encoding.UTF8.GetBytes(name));
        try
        {
            return JsonSerializer.Deserialize(plain, ProtocolJsonContext.Default.DictionaryStringString)!;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
        }
    }
}
