using Ferry.Protocol;
using Ferry.Protocol.Validation;

namespace Ferry;

/// <summary>
/// How a web function is reached through the gateway: its label, the method a function endpoint answers, whether it
/// needs a proxy token, and its request timeout. Modal's <c>fastapi_endpoint(method, label, requires_proxy_auth)</c>.
/// </summary>
public sealed record WebEndpointOptions
{
    /// <summary>
    /// The HTTP method a function endpoint (<c>app.WebEndpoint</c>) answers. Default <c>GET</c>. Ignored by ASP.NET Core
    /// apps and web servers, which route methods themselves.
    /// </summary>
    public string Method { get; init; } = "GET";

    /// <summary>
    /// The name in the endpoint's URLs: <c>http://&lt;label&gt;.localhost:&lt;gateway port&gt;/</c> and
    /// <c>http://&lt;gateway&gt;/&lt;label&gt;/</c>. Default: <c>&lt;app&gt;-&lt;function&gt;</c>, lowercased, with every
    /// other character turned into '-'. One DNS label: 1 to 63 lowercase letters, digits and '-', starting with a letter.
    /// </summary>
    public string? Label { get; init; }

    /// <summary>
    /// Requests need a proxy token (<c>ferry token create --kind proxy</c>): <c>Ferry-Key</c>/<c>Ferry-Secret</c> headers
    /// or <c>Authorization: Bearer &lt;token&gt;</c>. Without a valid one the gateway answers 401. Default false.
    /// </summary>
    public bool RequiresAuth { get; init; }

    /// <summary>
    /// How long a request may go without any bytes moving either way before the gateway answers 504 (or, once the
    /// response has started, aborts it). Default 150 seconds, as Modal's.
    /// </summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(150);

    internal WebEndpointSpec ToSpec(string kind, string defaultLabel, int? port = null, TimeSpan? startupTimeout = null) => new(
        kind,
        Label ?? defaultLabel,
        kind == WebEndpointKinds.Function ? Method.ToUpperInvariant() : null,
        RequiresAuth,
        port,
        (startupTimeout ?? TimeSpan.FromSeconds(5)).TotalSeconds,
        RequestTimeout.TotalSeconds);

    internal void Validate(string function, string defaultLabel)
    {
        var label = Label ?? defaultLabel;
        if (!WireRules.IsWebLabel(label))
        {
            throw new InvalidRequestException(
                $"{function}: the web label '{label}' is not valid: use 1 to 63 lowercase letters, digits and '-', starting with a letter and not ending with '-'.");
        }
        if (RequestTimeout <= TimeSpan.Zero || RequestTimeout > TimeSpan.FromSeconds(SettingsLimits.MaxTimeoutSeconds))
        {
            throw new InvalidRequestException($"{function}: RequestTimeout must be above zero and at most 24 hours, not {RequestTimeout}.");
        }
        if (Method.Length == 0 || !Method.All(char.IsAsciiLetter))
        {
            throw new InvalidRequestException($"{function}: '{Method}' is not an HTTP method.");
        }
    }

    /// <summary>The default label of a function: <c>&lt;app&gt;-&lt;function&gt;</c>, slugged.</summary>
    internal static string DefaultLabel(string app, string function)
    {
        var slug = new string([.. $"{app}-{function}".ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-')]).Trim('-');
        while (slug.Contains("--", StringComparison.Ordinal))
        {
            slug = slug.Replace("--", "-", StringComparison.Ordinal);
        }
        slug = slug.Length > 63 ? slug[..63].TrimEnd('-') : slug;
        return slug.Length > 0 && char.IsAsciiLetter(slug[0]) ? slug : "w-" + slug;
    }
}
