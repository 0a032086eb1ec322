using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ferry.Web;

/// <summary>Kestrel inside a web function's container, listening where the worker said.</summary>
internal static partial class ContainerWebHost
{
    /// <summary>The header the gateway puts on every forwarded request; error responses and log lines carry it.</summary>
    public const string RequestIdHeader = "Ferry-Request-Id";

    /// <summary>Error bodies are read by people with curl: quotes and apostrophes stay as they are.</summary>
    private static readonly System.Text.Json.Serialization.Metadata.JsonTypeInfo<WebError> Readable =
        new WebJsonContext(new System.Text.Json.JsonSerializerOptions(WebJsonContext.Default.Options)
        {
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        }).WebError;

    public static async Task<IAsyncDisposable> StartAsync(
        WebListen listen, Action<WebApplicationBuilder>? services, Action<WebApplication> configure, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // The gateway enforces the body limit; a second, different one here would only confuse.
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Listen(IPAddress.Parse(listen.BindAddress), listen.Port);
        });
        // A body that does not bind surfaces as an exception, so the error names the parameter instead of an empty 400.
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services?.Invoke(builder);
        var web = builder.Build();
        var logger = web.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Ferry.Web");
        web.Use(async (http, next) =>
        {
            try
            {
                await next(http).ConfigureAwait(false);
            }
            catch (Exception e) when (!http.Response.HasStarted && !http.RequestAborted.IsCancellationRequested)
            {
                var id = http.Request.Headers[RequestIdHeader].ToString() is { Length: > 0 } given ? given : http.TraceIdentifier;
                http.Response.Clear();
                http.Response.Headers[RequestIdHeader] = id;
                if (e is BadHttpRequestException bad)
                {
                    http.Response.StatusCode = bad.StatusCode;
                    await http.Response.WriteAsJsonAsync(new WebError(bad.Message, id), Readable).ConfigureAwait(false);
                    return;
                }
                LogHandlerFailed(logger, http.Request.Method, http.Request.Path, id, e);
                http.Response.StatusCode = StatusCodes.Status500InternalServerError;
                await http.Response.WriteAsJsonAsync(
                    new WebError($"The handler failed. Its details are in the app's logs under request id {id}.", id), Readable).ConfigureAwait(false);
            }
        });
        configure(web);
        await web.StartAsync(cancellationToken).ConfigureAwait(false);
        return new Running(web);
    }

    private sealed class Running(WebApplication web) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await web.StopAsync(grace.Token).ConfigureAwait(false);
            await web.DisposeAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method} {Path} failed (request id {RequestId})")]
    private static partial void LogHandlerFailed(ILogger logger, string method, string path, string requestId, Exception error);
}

/// <summary>The body of an error response from a web function's container.</summary>
/// <param name="Error">What went wrong, naming the parameter or limit involved.</param>
/// <param name="RequestId">The request's correlation id, also in the app's logs.</param>
internal sealed record WebError(string Error, string RequestId);

[System.Text.Json.Serialization.JsonSerializable(typeof(WebError))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class WebJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
