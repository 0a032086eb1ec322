namespace Ferry.Web;

/// <summary>
/// Marks a method as a web endpoint (Modal's <c>fastapi_endpoint</c>) for <see cref="WebEndpoints.WebEndpointsOf{T}"/>,
/// which registers every marked method of a class. A static method serves as a plain function endpoint; an instance
/// method is served by one instance per container, built by the class's <see cref="EnterAttribute">[Enter]</see> hook
/// before the container takes requests and closed by its <see cref="ExitAttribute">[Exit]</see> hook.
/// </summary>
/// <remarks>
/// The attribute says what the method is; how its containers run (<c>MaxInputs</c>, image, scaling) is the
/// <see cref="FunctionOptions"/> given at registration.
/// </remarks>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class WebEndpointAttribute : Attribute
{
    /// <summary>The HTTP method the endpoint answers. Default <c>GET</c>.</summary>
    public string Method { get; init; } = "GET";

    /// <summary>The endpoint's label, in its URL. Default: <c>&lt;app&gt;-&lt;class&gt;-&lt;method&gt;</c>, slugged.</summary>
    public string? Label { get; init; }

    /// <summary>Whether a request needs a proxy token. Default false.</summary>
    public bool RequiresAuth { get; init; }

    /// <summary>
    /// How long a request may go without progress before the gateway answers 504, in seconds. Default 150; 0 also means
    /// the default (an attribute cannot take a <see cref="TimeSpan"/>).
    /// </summary>
    public double RequestTimeoutSeconds { get; init; }

    /// <summary>The same settings as <see cref="WebEndpointOptions"/>.</summary>
    internal WebEndpointOptions ToOptions(string function) => new()
    {
        Method = Method,
        Label = Label,
        RequiresAuth = RequiresAuth,
        RequestTimeout = RequestTimeoutSeconds switch
        {
            0 => new WebEndpointOptions().RequestTimeout,
            > 0 and <= 86_400 => TimeSpan.FromSeconds(RequestTimeoutSeconds),
            _ => throw new InvalidRequestException(
                $"{function}: RequestTimeoutSeconds must be above zero and at most 86400 (24 hours), not {RequestTimeoutSeconds}."),
        },
    };
}
