using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Routing;

namespace Ferry.IntegrationTests.Fuzzing;

/// <summary>A query parameter a route's handler binds, with the type it binds to.</summary>
internal sealed record QueryParameter(string Name, Type Type);

/// <summary>
/// One method of one route as the server maps it: its template, its route parameters, and the query parameters its
/// handler binds (read from the handler's signature, so a parameter added later is fuzzed without a change here).
/// </summary>
internal sealed partial record FuzzRoute(string Pattern, string Method, IReadOnlyList<string> Parameters, IReadOnlyList<QueryParameter> Query)
{
    /// <summary>How the route is named in messages and tables: <c>METHOD /v1/template</c>.</summary>
    public string Key => $"{Method} {Pattern}";

    /// <summary>The routes of an endpoint, one per method; an endpoint that names no method (the fallback) is fuzzed as GET.</summary>
    public static IEnumerable<FuzzRoute> From(RouteEndpoint endpoint)
    {
        var pattern = "/" + (endpoint.RoutePattern.RawText ?? "").TrimStart('/');
        var parameters = endpoint.RoutePattern.Parameters.Select(p => p.Name).ToList();
        var query = endpoint.Metadata.GetMetadata<MethodInfo>()?.GetParameters()
            .Where(p => p.Name is { } name && !parameters.Contains(name, StringComparer.OrdinalIgnoreCase) && IsQueryType(p.ParameterType))
            .Select(p => new QueryParameter(p.Name!, Nullable.GetUnderlyingType(p.ParameterType) ?? p.ParameterType))
            .ToList() ?? [];
        var methods = endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"];
        return methods.Select(method => new FuzzRoute(pattern, method, parameters, query));
    }

    /// <summary>The path with each parameter replaced by <paramref name="value"/>'s choice, already written for the wire.</summary>
    public string Path(Func<string, string> value) => ParameterPattern().Replace(Pattern, m => value(m.Groups[1].Value));

    /// <summary>The literal segment before a parameter, such as <c>calls</c> for <c>/v1/calls/{id}</c>, or null.</summary>
    public string? SegmentBefore(string parameter)
    {
        var segments = Pattern.Split('/');
        var at = Array.FindIndex(segments, s => ParameterPattern().Match(s) is { Success: true } m && m.Groups[1].Value == parameter);
        return at > 0 ? segments[at - 1] : null;
    }

    private static bool IsQueryType(Type type)
    {
        var underlying = Nullable.GetUnderlyingType(type) ?? type;
        return underlying == typeof(string) || underlying.IsPrimitive || underlying == typeof(decimal);
    }

    [GeneratedRegex(@"\{\**([A-Za-z_][A-Za-z0-9_]*)[^}]*\}")]
    private static partial Regex ParameterPattern();
}
