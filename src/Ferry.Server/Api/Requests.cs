using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Ferry.Protocol;
using Microsoft.AspNetCore.Http;

namespace Ferry.Server.Api;

/// <summary>Reading, checking and answering the API's requests: the steps every feature's routes share.</summary>
internal static class Requests
{
    public static readonly ProtocolJsonContext Json = ProtocolJsonContext.Default;

    /// <summary>
    /// A long poll's wait: absent or negative waits not at all, and at most 60 seconds are waited. NaN or an infinity
    /// (<c>wait=1e400</c>) is refused rather than read as no wait or the longest one.
    /// </summary>
    public static TimeSpan Wait(double? seconds, string name)
    {
        var value = seconds ?? 0;
        if (!double.IsFinite(value))
        {
            throw new BadRequestException($"The parameter '{name}' must be a finite number of seconds (at most 60 are waited), not {value.ToString(CultureInfo.InvariantCulture)}.");
        }
        return TimeSpan.FromSeconds(Math.Clamp(value, 0, 60));
    }

    /// <summary>A position in a log or a call's outputs: absent is the start; a negative one names no position.</summary>
    public static long Cursor(long? after) => after switch
    {
        null => 0,
        < 0 => throw new BadRequestException($"The parameter 'after' must be a cursor of 0 or more, such as the 'next' of the previous answer, not {after}."),
        { } cursor => cursor,
    };

    public static IResult Ok<T>(T value, JsonTypeInfo<T> typeInfo) => Results.Json(value, typeInfo);

    /// <summary>Answers 400 with the validator's first problem, before the request changes anything.</summary>
    public static void ThrowIfInvalid(string? problem)
    {
        if (problem is not null)
        {
            throw new BadRequestException(problem);
        }
    }

    public static void ValidateInputs(IReadOnlyList<InputItem> inputs)
    {
        if (inputs.Count > ProtocolInfo.MaxInputsPerRequest)
        {
            throw new PayloadTooLargeException($"A request may carry at most {ProtocolInfo.MaxInputsPerRequest} inputs; it had {inputs.Count}.");
        }
        for (var i = 0; i < inputs.Count; i++)
        {
            var input = inputs[i];
            if (input.Index < 0)
            {
                throw new BadRequestException($"The field 'inputs[{i}].index' must not be negative.");
            }
            if ((input.Args is null) == (input.ArgsBlob is null))
            {
                throw new BadRequestException($"Input {i} must have exactly one of 'inputs[{i}].args' and 'inputs[{i}].argsBlob'.");
            }
            if (input.Args is { } args && args.ValueKind != JsonValueKind.Array)
            {
                throw new BadRequestException($"The field 'inputs[{i}].args' must be a JSON array of arguments.");
            }
            if (input.Args is { } inline && inline.GetRawText().Length > ProtocolInfo.InlinePayloadLimit)
            {
                throw new PayloadTooLargeException($"Input {i} is larger than the inline limit of {ProtocolInfo.InlinePayloadLimit / (1024 * 1024)} MiB; upload it as a blob and send 'argsBlob'.");
            }
        }
    }

    /// <summary>Reads a JSON body, turning every way it can be wrong into a 400 that names the field.</summary>
    public static async Task<T> ReadAsync<T>(HttpContext http, JsonTypeInfo<T> typeInfo)
    {
        if (http.Request.ContentLength > ProtocolInfo.MaxRequestBytes)
        {
            throw new PayloadTooLargeException($"A request body may be at most {ProtocolInfo.MaxRequestBytes / (1024 * 1024)} MiB; send large payloads as blobs.");
        }
        try
        {
            return await JsonSerializer.DeserializeAsync(http.Request.Body, typeInfo, http.RequestAborted)
                ?? throw new BadRequestException("The request body must be a JSON object, not null.");
        }
        catch (JsonException e)
        {
            var field = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? null : e.Path;
            var detail = e.Message.Split(" Path:", 2)[0];
            throw new BadRequestException(field is null ? $"The request body is not valid: {detail}" : $"The field '{field}' is not valid: {detail}");
        }
    }
}

/// <summary>A request that is malformed; the message names what is wrong.</summary>
internal sealed class BadRequestException(string message) : Exception(message);

/// <summary>A request or payload over a limit; the message names the limit.</summary>
internal sealed class PayloadTooLargeException(string message) : Exception(message);
