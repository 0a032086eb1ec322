using System.Security.Cryptography;

namespace Ferry.Server;

internal static class Ids
{
    public static string New(string prefix) => prefix + "-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    public static string Token() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
}
