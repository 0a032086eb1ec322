using Ferry.Client;
using Ferry.Hosting;
using Ferry.Protocol;

namespace Ferry.Web;

/// <summary>What a program run locally shows of its web endpoints.</summary>
internal static class WebUrls
{
    /// <summary>Prints each web endpoint's URL, as the server's gateway serves it, to standard error.</summary>
    public static async Task PrintAsync(FerryClient client, CancellationToken cancellationToken)
    {
        var summary = await client.SendAsync<object, AppSummary>(HttpMethod.Get, Routes.App(client.AppId), null, null,
            ProtocolJsonContext.Default.AppSummary, cancellationToken).ConfigureAwait(false);
        if (summary.WebUrls is not { Count: > 0 } urls)
        {
            await Console.Error.WriteLineAsync("This server runs no web gateway, so the app's web endpoints are not reachable.").ConfigureAwait(false);
            return;
        }
        foreach (var url in urls)
        {
            await Console.Error.WriteLineAsync($"Web endpoint: {url} (or {PathForm(url)})").ConfigureAwait(false);
        }
    }

    /// <summary><c>http://label.host:port/</c> as <c>http://host:port/label/</c>, for clients that cannot resolve wildcard names.</summary>
    internal static string PathForm(string url)
    {
        var uri = new Uri(url);
        var dot = uri.Host.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? url : $"{uri.Scheme}://{uri.Host[(dot + 1)..]}:{uri.Port}/{uri.Host[..dot]}/";
    }

    /// <summary>Keeps the app running until the program is interrupted.</summary>
    public static async Task<int> ServeAsync(CancellationToken cancellationToken)
    {
        await Console.Error.WriteLineAsync("Serving the web endpoints; press Ctrl+C to stop.").ConfigureAwait(false);
        using var interrupted = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            interrupted.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            await Task.Delay(Timeout.Infinite, interrupted.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
        return ExitCodes.Success;
    }
}
