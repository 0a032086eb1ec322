using System.Net.Sockets;
using System.Text;
using Ferry.Protocol;

namespace Ferry.Hosting;

/// <summary>
/// The local program's side of <see cref="FerryEnv.RunSocket"/>: says it is ready to run, then takes the id of the app
/// <c>ferry run</c> created for it, as if the environment had named it from the start.
/// </summary>
internal static class RunHandshake
{
    /// <summary>
    /// Says the program is ready and waits for the app's id. Meanwhile <paramref name="whileWaiting"/> runs: work the
    /// program does next anyway (its first request's connection and code paths), done while <c>ferry run</c> creates the
    /// app rather than after; it is not awaited, and its failures are its own to handle.
    /// </summary>
    public static async Task ReadyAsync(string path, Func<Task>? whileWaiting, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync("ready\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
        if (whileWaiting is not null)
        {
            _ = Task.Run(whileWaiting, CancellationToken.None);
        }
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var appId = (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false))?.Trim();
        if (string.IsNullOrEmpty(appId))
        {
            throw new FerryException("ferry run closed the connection before it created the app.");
        }
        Environment.SetEnvironmentVariable(FerryEnv.AppId, appId);
        // A connection made before this point would act for no app; from here on the program acts for this one.
        if (FerryContext.Environment is { } client)
        {
            FerryContext.Override = client.ForApp(appId);
        }
    }
}
