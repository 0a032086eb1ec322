using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Ferry.Protocol.Validation;

/// <summary>The rules for the strings of the wire forms, shared by the SDK, the control plane and the worker.</summary>
public static partial class WireRules
{
    /// <summary>
    /// Whether <paramref name="path"/> is an absolute path in a container written the one normal way: it starts with
    /// <c>/</c>, and no segment is empty, <c>.</c> or <c>..</c> (so no trailing or doubled <c>/</c>); it has no NUL.
    /// <c>/</c> itself is accepted.
    /// </summary>
    public static bool IsContainerPath(string path) =>
        path == "/" || (path.Length > 1 && path[0] == '/' && HasNormalSegments(path[1..]));

    /// <summary>
    /// Whether <paramref name="path"/> is a relative path with <c>/</c> separators written the one normal way: it does
    /// not start with <c>/</c>, and no segment is empty, <c>.</c> or <c>..</c>; it has no NUL.
    /// </summary>
    public static bool IsRelativePath(string path) =>
        path.Length > 0 && path[0] != '/' && HasNormalSegments(path);

    /// <summary>Whether <paramref name="value"/> is a SHA-256 hash in lower-case hex, as blobs are named.</summary>
    public static bool IsSha256(string value) => Sha256().IsMatch(value);

    /// <summary>Whether <paramref name="package"/> is a Debian package name, optionally with <c>:arch</c> and <c>=version</c>.</summary>
    public static bool IsAptPackage(string package) => AptPackage().IsMatch(package);

    /// <summary>Whether <paramref name="name"/> is an environment variable name: letters, digits and underscores, not starting with a digit.</summary>
    public static bool IsEnvName(string name) => EnvName().IsMatch(name);

    /// <summary>
    /// Whether <paramref name="label"/> is a web endpoint label: one DNS label of 1 to 63 lowercase letters, digits and
    /// '-', starting with a letter and not ending with '-'.
    /// </summary>
    public static bool IsWebLabel(string label) => label.Length <= 63 && WebLabel().IsMatch(label);

    /// <summary>
    /// Whether <paramref name="request"/> is one GPU request: <c>TYPE</c> or <c>TYPE:COUNT</c>, where TYPE is one of
    /// <see cref="SettingsLimits.GpuTypes"/> and COUNT is 1 to <see cref="SettingsLimits.MaxGpuCount"/>.
    /// </summary>
    public static bool IsGpu(string request)
    {
        var parts = request.Split(':');
        return parts.Length is 1 or 2
            && SettingsLimits.GpuTypes.Contains(parts[0].ToUpperInvariant())
            && (parts.Length == 1 || (int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var count) && count is >= 1 and <= SettingsLimits.MaxGpuCount));
    }

    /// <summary>Whether <paramref name="text"/> is valid UTF-16: every surrogate is one half of a pair.</summary>
    public static bool IsValidUtf16(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// The first string or property name in free JSON (arguments, class parameters, results) that is not valid UTF-16,
    /// as a message that names it by its path from <paramref name="at"/>; null when every one is valid. The reader
    /// keeps an escape such as <c>\ud800</c> as written and refuses to decode it only when asked for the string.
    /// </summary>
    public static string? StringProblem(JsonElement element, string at) =>
        MayHoldLoneSurrogate(element) ? FirstStringProblem(element, at) : null;

    /// <summary>
    /// False when free JSON holds no string or property name that could be invalid UTF-16, which is so for nearly all
    /// of it: the reader accepts only valid UTF-8, so a lone surrogate can only be written as a <c>\u</c> escape. The
    /// check reads the value's bytes as received and allocates nothing; true asks for <see cref="StringProblem"/>'s walk.
    /// </summary>
    public static bool MayHoldLoneSurrogate(JsonElement element) =>
        System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(element).IndexOf("\\u"u8) >= 0;

    private static string? FirstStringProblem(JsonElement element, string at)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String when !IsValidString(element):
                return WireValidator.Fail(at, "is not valid UTF-16: it has a lone surrogate");
            case JsonValueKind.Array:
                var index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    if (item.ValueKind is JsonValueKind.String or JsonValueKind.Array or JsonValueKind.Object
                        && FirstStringProblem(item, $"{at}[{index}]") is { } problem)
                    {
                        return problem;
                    }
                    index++;
                }
                return null;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    if (NameOf(property) is not { } name)
                    {
                        return WireValidator.Fail(at, "has a property name that is not valid UTF-16: it has a lone surrogate");
                    }
                    if (FirstStringProblem(property.Value, WireValidator.Join(at, name)) is { } problem)
                    {
                        return problem;
                    }
                }
                return null;
            default:
                return null;
        }
    }

    private static bool IsValidString(JsonElement element)
    {
        try
        {
            return IsValidUtf16(element.GetString()!);
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static string? NameOf(JsonProperty property)
    {
        try
        {
            return IsValidUtf16(property.Name) ? property.Name : null;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private static bool HasNormalSegments(string path) =>
        !path.Contains('\0', StringComparison.Ordinal) && path.Split('/').All(s => s.Length > 0 && s is not ("." or ".."));

    // The patterns end with \z, not $, which would also match before a final newline.
    [GeneratedRegex(@"^[0-9a-f]{64}\z")]
    private static partial Regex Sha256();

    [GeneratedRegex(@"^[a-z0-9][a-z0-9+.\-]*(:[a-z0-9]+)?(=[A-Za-z0-9.+~:\-]+)?\z")]
    private static partial Regex AptPackage();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*\z")]
    private static partial Regex EnvName();

    [GeneratedRegex(@"^[a-z]([a-z0-9\-]*[a-z0-9])?\z")]
    private static partial Regex WebLabel();
}
