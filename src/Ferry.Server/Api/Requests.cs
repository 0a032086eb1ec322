using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Security;
using Ferry.Server.Storage;
using Microsoft.AspNetCore.Http;
using BadHttpRequestException = Microsoft.AspNetCore.Http.BadHttpRequestException;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ferry.Server.Api;

/// <summary>
/// Reading, checking and answering the API's requests, errors included: the steps every feature's routes share.
/// </summary>
internal static partial class Requests
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
            if (e is JsonPropertyException property)
            {
                field = $"{field ?? "$"}.{property.Property}";
            }
            var detail = e.Message.Split(" Path:", 2)[0];
            throw new BadRequestException(field is null ? $"The request body is not valid: {detail}" : $"The field '{field}' is not valid: {detail}");
        }
    }

    /// <summary>
    /// Wraps every request: turns what it threw into the API's error body with the status its exception names, so no
    /// caller ever sees a server stack trace. Only an unexpected exception is logged, and answers 500.
    /// </summary>
    public static async Task AnswerErrorsAsync(HttpContext http, RequestDelegate next)
    {
        try
        {
            await next(http).ConfigureAwait(false);
        }
        catch (Exception e) when (!http.Response.HasStarted && e is not OperationCanceledException)
        {
            var (status, code) = e switch
            {
                BadRequestException => (StatusCodes.Status400BadRequest, ErrorCodes.InvalidRequest),
                NotFoundException => (StatusCodes.Status404NotFound, ErrorCodes.NotFound),
                ConflictException => (StatusCodes.Status409Conflict, ErrorCodes.Conflict),
                ForbiddenException => (StatusCodes.Status403Forbidden, ErrorCodes.Forbidden),
                LeaseLostException => (StatusCodes.Status503ServiceUnavailable, ErrorCodes.Unavailable),
                PayloadTooLargeException => (StatusCodes.Status413PayloadTooLarge, ErrorCodes.PayloadTooLarge),
                BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => (StatusCodes.Status413PayloadTooLarge, ErrorCodes.PayloadTooLarge),
                BadHttpRequestException => (StatusCodes.Status400BadRequest, ErrorCodes.InvalidRequest),
                _ => (StatusCodes.Status500InternalServerError, ErrorCodes.Internal),
            };
            var message = status switch
            {
                StatusCodes.Status500InternalServerError => "The server failed to handle the request; see its log.",
                StatusCodes.Status413PayloadTooLarge when e is BadHttpRequestException => $"A request body may be at most {ProtocolInfo.MaxRequestBytes / (1024 * 1024)} MiB; send large payloads as blobs.",
                _ => e.Message,
            };
            if (status == StatusCodes.Status500InternalServerError)
            {
                var logger = http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Ferry.Server.Api");
                LogUnhandled(logger, http.Request.Method, http.Request.Path, e);
            }
            http.Response.Clear();
            http.Response.StatusCode = status;
            await http.Response.WriteAsJsonAsync(new ErrorResponse(code, message), ProtocolJsonContext.Default.ErrorResponse).ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method} {Path} failed.")]
    private static partial void LogUnhandled(ILogger logger, string method, string path, Exception error);
}

/// <summary>A request that is malformed; the message names what is wrong.</summary>
internal sealed class BadRequestException(string message) : Exception(message);

/// <summary>A request or payload over a limit; the message names the limit.</summary>
internal sealed class PayloadTooLargeException(string message) : Exception(message);
