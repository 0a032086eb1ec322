using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ferry.Server.Api;

internal sealed partial class ContainerConnection
{
    private static void LogInvalidMessage(HttpContext http, string peer, Exception error) =>
        LogInvalid(http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Ferry.Server.Streams"), peer, error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Closing the stream of {Peer}: it sent an invalid message.")]
    private static partial void LogInvalid(ILogger logger, string peer, Exception error);
}
