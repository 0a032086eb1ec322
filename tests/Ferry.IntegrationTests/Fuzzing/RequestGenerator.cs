using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace Ferry.IntegrationTests.Fuzzing;

/// <summary>What the generator needs to know of the server under test: real ids, credentials and valid bodies.</summary>
/// <param name="RealValues">Real values for a route's parameter, such as a live app id for <c>{app}</c>; may be empty.</param>
/// <param name="Sample">A valid body for a route, from the protocol's request records; null for a route without one.</param>
/// <param name="AnySample">Any valid body of any route, for routes that take none or that the table does not know.</param>
/// <param name="AdminToken">A client token, which most requests carry.</param>
/// <param name="WorkerToken">A worker's join token, which a few requests carry.</param>
/// <param name="ContainerToken">A live container's token, which a few requests carry.</param>
internal sealed record FuzzTargets(
    Func<FuzzRoute, string, IReadOnlyList<string>> RealValues,
    Func<FuzzRoute, int, JsonNode?> Sample,
    Func<int, JsonNode> AnySample,
    string AdminToken,
    string WorkerToken,
    string ContainerToken);

/// <summary>
/// Makes hostile requests for the server's routes from one seeded <see cref="Random"/>, so that a seed always makes the
/// same requests in the same order. Each request mixes real and hostile route values, query parameters with bad
/// numbers, a valid body with a mutation (or garbage), a method the route may not take, an odd content type, and
/// mostly a valid token.
/// </summary>
internal sealed class RequestGenerator(Random random, FuzzTargets targets)
{
    private const string JsonContentType = "application/json";
    private static readonly string[] Methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "PROPFIND"];
    private static readonly string[] GenericQuery = ["wait", "after", "limit", "arg", "app", "function"];

    private static readonly string?[] ContentTypes =
    [
        null, "text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
        "application/json; charset=utf-16", "application/octet-stream", "application/json; charset=nonsense", "*/*",
    ];

    private static readonly string[] MalformedAuthorizations =
    [
        "Bearer", "Bearer ", "Bearer .", "Bearer tk-.", "Bearer ..", "Bearer .secret", "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
        "Bearer ct-0000.0000", "Bearer tk-0000000000000000.", "Bearer%20x", "Token abc", "Bearer tk-0000000000000000.not-the-secret extra",
    ];

    private readonly JsonMutator _mutator = new(random);

    /// <summary>Request number <paramref name="number"/>, aimed at <paramref name="route"/>.</summary>
    public FuzzRequest Next(int number, FuzzRoute route)
    {
        var method = random.NextDouble() < 0.9 ? route.Method : Methods[random.Next(Methods.Length)];
        byte[]? rawBody = null;
        var values = new Dictionary<string, string>();
        if (route.Parameters.Contains("hash") && method is "PUT" or "POST" && targets.Sample(route, number) is null)
        {
            // A content-addressed upload: half the time the hash in the path is the body's own.
            rawBody = RandomBytes(random.Next(20) == 0 ? 1024 * 1024 : random.Next(0, 4096));
            if (random.Next(2) == 0)
            {
                values["hash"] = Convert.ToHexStringLower(SHA256.HashData(rawBody));
            }
        }
        var path = route.Path(name => values.TryGetValue(name, out var value) ? value : Segment(route, name));
        var query = Query(route);
        var (body, chunked, contentType) = rawBody is not null ? (rawBody, random.Next(5) == 0, "application/octet-stream") : Body(route, method, number);
        if (random.Next(12) == 0)
        {
            contentType = ContentTypes[random.Next(ContentTypes.Length)];
        }
        if (method is "HEAD")
        {
            body = null;
        }
        var (credential, authorization) = Credential();
        return new FuzzRequest(number, route, method, path + query, body, chunked, body is null ? null : contentType, credential, authorization);
    }

    private string Segment(FuzzRoute route, string parameter)
    {
        var real = targets.RealValues(route, parameter);
        var roll = random.NextDouble();
        string value;
        if (real.Count > 0 && roll < 0.55)
        {
            value = real[random.Next(real.Count)];
        }
        else if (real.Count > 0 && roll < 0.65)
        {
            var id = real[random.Next(real.Count)];
            value = random.Next(5) switch
            {
                0 => id + "%00",
                1 => id.ToUpperInvariant(),
                2 => id[..^1],
                3 => "%20" + id,
                _ => id + "/..",
            };
        }
        else if (roll < 0.7)
        {
            // Long enough, at times, to pass the server's limit on the request line.
            value = new string('a', random.Next(10) == 0 ? random.Next(8_000, 20_000) : random.Next(200, 2_000));
        }
        else
        {
            value = HostileValues.Segments[random.Next(HostileValues.Segments.Length)];
        }
        return IsSendable($"/{value}") ? value : Uri.EscapeDataString(value);
    }

    private string Query(FuzzRoute route)
    {
        var pairs = new List<string>();
        foreach (var parameter in route.Query)
        {
            if (random.NextDouble() < 0.6)
            {
                pairs.Add($"{parameter.Name}={QueryValue(route, parameter.Name, parameter.Type)}");
            }
        }
        if (random.NextDouble() < 0.15)
        {
            var name = GenericQuery[random.Next(GenericQuery.Length)];
            pairs.Add($"{name}={QueryValue(route, name, null)}");
        }
        if (pairs.Count > 0 && random.NextDouble() < 0.05)
        {
            pairs.Add(pairs[random.Next(pairs.Count)]);
        }
        if (random.NextDouble() < 0.03)
        {
            pairs.Add(random.Next(5) switch
            {
                0 => "%",
                1 => "&&&",
                2 => "=x",
                3 => "a=%ED%A0%80",
                _ => "q=" + new string('q', random.Next(100, 10_000)),
            });
        }
        var query = pairs.Count == 0 ? "" : "?" + string.Join('&', pairs);
        return IsSendable("/x" + query) ? query : "";
    }

    private string QueryValue(FuzzRoute route, string name, Type? type)
    {
        string[] values = (name, type) switch
        {
            ("wait", _) => HostileValues.Waits,
            (_, { } t) when t == typeof(double) || t == typeof(float) => HostileValues.Waits,
            ("after", _) => HostileValues.Cursors,
            (_, { } t) when t == typeof(long) => HostileValues.Cursors,
            ("limit", _) => HostileValues.Counts,
            (_, { } t) when t == typeof(int) => HostileValues.Counts,
            (_, { } t) when t == typeof(bool) => ["true", "false", "1", "0", "", "yes", "%00"],
            _ => [.. HostileValues.Segments, .. targets.RealValues(route, name)],
        };
        return values[random.Next(values.Length)];
    }

    private (byte[]? Body, bool Chunked, string? ContentType) Body(FuzzRoute route, string method, int number)
    {
        var sample = method == route.Method ? targets.Sample(route, number) : null;
        var wantsBody = sample is not null || (method is "POST" or "PUT" or "PATCH" && random.Next(3) == 0) || random.Next(20) == 0;
        if (!wantsBody)
        {
            return (null, false, null);
        }
        sample ??= random.Next(3) == 0 ? null : targets.AnySample(number);
        var body = sample is not null && random.Next(12) != 0 ? _mutator.Mutate(sample) : _mutator.Garbage();
        return (body, random.Next(10) == 0, JsonContentType);
    }

    private (string Credential, string? Authorization) Credential()
    {
        var roll = random.NextDouble();
        return roll switch
        {
            < 0.85 => ("admin", $"Bearer {targets.AdminToken}"),
            < 0.89 => ("none", null),
            < 0.92 => ("forged", "Bearer tk-0000000000000000.not-the-secret"),
            < 0.95 => ("malformed", MalformedAuthorizations[random.Next(MalformedAuthorizations.Length)]),
            < 0.97 => ("worker", $"Bearer {targets.WorkerToken}"),
            _ => ("container", $"Bearer {targets.ContainerToken}"),
        };
    }

    private byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>Whether the client can send this path at all; what it cannot send is escaped instead.</summary>
    private static bool IsSendable(string pathAndQuery) =>
        Uri.TryCreate("http://127.0.0.1:1" + pathAndQuery, new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true }, out _);
}
