using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace Ferry.Server;

/// <summary>The web host builder the control plane and its gateway start from.</summary>
internal static class WebBuilders
{
    /// <summary>
    /// A slim builder rooted at Ferry's own install directory, which reads no configuration file from wherever the
    /// server was started and watches none. Rooted at the working directory, as by default, the host read that
    /// directory's <c>appsettings.json</c> (a user's project could rebind the server) and watched it for changes with
    /// an inotify watch on every directory beneath it: started from a large tree, the server spent seconds walking it
    /// and could run out of the user's inotify watches.
    /// </summary>
    public static WebApplicationBuilder CreateSlim()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ContentRootPath = AppContext.BaseDirectory,
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
        });
        // The host logs a failed start, stack trace included, before it throws the exception: the caller reports that
        // (a port in use becomes a ListenException), once.
        builder.Logging.AddFilter(HostCategory, LogLevel.Critical);
        return builder;
    }

    private const string HostCategory = "Microsoft.Extensions.Hosting.Internal.Host";
}
