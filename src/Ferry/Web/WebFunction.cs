using System.Text.Json;
using Ferry.Protocol;

namespace Ferry.Web;

/// <summary>Where a web function's server listens inside its container, as the worker chose.</summary>
/// <param name="BindAddress">The address to listen on: all interfaces in a container with its own network, loopback otherwise.</param>
/// <param name="Port">The port the worker chose, and the gateway forwards to.</param>
/// <param name="Instance">A class method endpoint's instance, built by its enter hooks; null for a plain function.</param>
internal sealed record WebListen(string BindAddress, int Port, object? Instance);

/// <summary>
/// A function that serves HTTP through the gateway instead of taking inputs: its container starts a server (Kestrel
/// from the Ferry.Web package, or any process) on the port the worker chose, and reports ready once it listens.
/// </summary>
internal sealed class WebFunction : Function
{
    private readonly Func<WebListen, CancellationToken, Task<IAsyncDisposable>> _start;

    internal WebFunction(string name, FunctionOptions options, Delegate implementation, Func<WebListen, CancellationToken, Task<IAsyncDisposable>> start)
        : base(name, options, implementation)
    {
        _start = start;
    }

    internal override Type[] ParameterTypes => [];

    internal override Type ResultType => typeof(None);

    internal override Task<object?> InvokeAsync(JsonElement args, CancellationToken cancellationToken) =>
        throw new InvalidRequestException($"'{Name}' is a web function: call it through its URL ({Web?.Label}), not with RemoteAsync.");

    /// <summary>Starts the server; disposing the result stops it.</summary>
    internal Task<IAsyncDisposable> StartAsync(WebListen listen, CancellationToken cancellationToken) => _start(listen, cancellationToken);
}
