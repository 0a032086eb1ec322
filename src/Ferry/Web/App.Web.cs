using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Ferry.Protocol;
using Ferry.Web;

namespace Ferry;

public sealed partial class App
{
    /// <summary>
    /// Registers a web function of the given kind. The Ferry.Web package builds its ASP.NET Core endpoints on this;
    /// <see cref="WebServer"/> uses it for any process.
    /// </summary>
    internal Function AddWeb(
        string kind,
        Delegate implementation,
        Func<WebListen, CancellationToken, Task<IAsyncDisposable>> start,
        WebEndpointOptions? web,
        FunctionOptions? options,
        string? name,
        string expression,
        int? port = null,
        TimeSpan? startupTimeout = null)
    {
        var functionName = Named(name, expression);
        web ??= new WebEndpointOptions();
        var defaultLabel = WebEndpointOptions.DefaultLabel(Name, functionName);
        web.Validate(functionName, defaultLabel);
        var label = web.Label ?? defaultLabel;
        if (_functions.Values.FirstOrDefault(f => f.Web?.Label == label) is { } clash)
        {
            throw new InvalidRequestException($"The web label '{label}' is already taken by '{clash.Name}'. Give one of them another Label.");
        }
        var function = new WebFunction(functionName, Checked(options, functionName, expression), implementation, start)
        {
            Web = web.ToSpec(kind, defaultLabel, port, startupTimeout),
        };
        return Add(function);
    }

    /// <summary>
    /// Serves any web server through the gateway (Modal's <c>web_server(port)</c>): in each container,
    /// <paramref name="start"/> starts the server (for example a process from the image) listening on the port it is
    /// given, on all interfaces, and returns; the gateway forwards requests once the port accepts connections.
    /// </summary>
    /// <param name="start">
    /// Starts the server. It gets the port to listen on: <paramref name="port"/> in a container with its own network
    /// (runc), or a free port the worker chose when containers share the host's network (the process runtime).
    /// </param>
    /// <param name="port">The port the server listens on inside its container.</param>
    /// <param name="web">The label, auth and request timeout; see <see cref="WebEndpointOptions"/>.</param>
    /// <param name="options">How the function's containers run (image, scaling, <c>MaxInputs</c> as concurrent requests per container).</param>
    /// <param name="startupTimeout">How long the port may take to accept connections before the container fails. Default 5 seconds.</param>
    /// <param name="name">The function's name; defaults to the method's name.</param>
    /// <param name="expression">Filled in by the compiler.</param>
    /// <returns>The registered function. Web functions are reached by URL, not with <c>RemoteAsync</c>.</returns>
    /// <exception cref="InvalidRequestException">The name, label, port or options are invalid, or the label is taken.</exception>
    public Function WebServer(
        Func<int, CancellationToken, Task> start,
        int port,
        WebEndpointOptions? web = null,
        FunctionOptions? options = null,
        TimeSpan? startupTimeout = null,
        string? name = null,
        [CallerArgumentExpression(nameof(start))] string expression = "")
    {
        ArgumentNullException.ThrowIfNull(start);
        if (port is < 1 or > 65535)
        {
            throw new InvalidRequestException($"WebServer: the port must be between 1 and 65535, not {port}.");
        }
        var timeout = startupTimeout ?? TimeSpan.FromSeconds(5);
        if (timeout <= TimeSpan.Zero)
        {
            throw new InvalidRequestException($"WebServer: the startup timeout must be above zero, not {timeout}.");
        }
        return AddWeb(WebEndpointKinds.Server, start, async (listen, cancellationToken) =>
        {
            await start(listen.Port, cancellationToken).ConfigureAwait(false);
            await WaitForPortAsync(listen.Port, timeout, cancellationToken).ConfigureAwait(false);
            return ChildProcesses.Instance;
        }, web, options, name, expression, port, timeout);
    }

    /// <summary>Waits until something accepts connections on the port; no event says so, so it tries every 50 ms.</summary>
    private static async Task WaitForPortAsync(int port, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        while (true)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(System.Net.IPAddress.Loopback, port, deadline.Token).ConfigureAwait(false);
                return;
            }
            catch (SocketException)
            {
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"Nothing accepted connections on port {port} within the startup timeout of {timeout.TotalSeconds:0.###} s.");
            }
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"Nothing accepted connections on port {port} within the startup timeout of {timeout.TotalSeconds:0.###} s.");
            }
        }
    }

    /// <summary>
    /// Ends the processes the web server's start function began. Under runc the container's pid namespace ends them
    /// anyway; a process container shares the host's, where they would outlive it and keep its output pipes open.
    /// </summary>
    private sealed class ChildProcesses : IAsyncDisposable
    {
        public static readonly ChildProcesses Instance = new();

        public ValueTask DisposeAsync()
        {
            foreach (var pid in ChildrenOf(Environment.ProcessId))
            {
                try
                {
                    using var child = System.Diagnostics.Process.GetProcessById(pid);
                    child.Kill(entireProcessTree: true);
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
                {
                    // Gone already.
                }
            }
            return ValueTask.CompletedTask;
        }

        private static List<int> ChildrenOf(int parent)
        {
            var children = new List<int>();
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out var pid))
                {
                    continue;
                }
                try
                {
                    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'.
                    var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    if (fields.Length > 1 && int.TryParse(fields[1], out var ppid) && ppid == parent)
                    {
                        children.Add(pid);
                    }
                }
                catch (IOException)
                {
                }
            }
            return children;
        }
    }
}
