using System.Reflection;
using Ferry.Client;
using Ferry.Protocol;

namespace Ferry;

/// <summary>How <see cref="App.RunEphemeralAsync"/> runs an app.</summary>
public sealed record AppRunOptions
{
    /// <summary>
    /// The program the app's containers run: the path of an assembly whose <c>Main</c> hands control to
    /// <see cref="App.RunAsync"/>. Its directory, as built, is uploaded as the app's code. Default: this process's
    /// entry assembly, as <c>ferry run</c> would upload it. A test host is no such program: a test names the app's
    /// own assembly here.
    /// </summary>
    public string? Program { get; init; }

    /// <summary>When true the app keeps running after the run is disposed, until <c>ferry app stop</c>. Default: false.</summary>
    public bool Detach { get; init; }

    /// <summary>How long stopping the app on dispose may take before it is left to the server. Default: 10 s.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// An app running from this program (Modal's <c>with app.run():</c>), made by <see cref="App.RunEphemeralAsync"/>.
/// While it lives, the app's function and class handles call this run; disposing it stops the app and its containers
/// (unless <see cref="AppRunOptions.Detach"/>) and points the handles back at the environment. While it lives it sends
/// the server heartbeats; if this process dies without disposing it, the server stops the app once they stop (20 s by
/// default).
/// </summary>
public sealed class EphemeralApp : IAsyncDisposable
{
    private readonly App _app;
    private readonly FerryClient _client;
    private readonly FerryConnection? _ownedConnection;
    private readonly AppRunOptions _options;
    private readonly AppHeartbeat? _heartbeat;
    private int _disposed;

    private EphemeralApp(App app, string appId, FerryClient client, FerryConnection? ownedConnection, AppRunOptions options)
    {
        // A detached app outlives this run; any other stops on the server once heartbeats stop, even if this process is killed.
        _heartbeat = options.Detach ? null : AppHeartbeat.Start(client, appId);
        _app = app;
        AppId = appId;
        _client = client;
        _ownedConnection = ownedConnection;
        _options = options;
    }

    /// <summary>The app's id on the server, such as <c>ap-…</c>; <c>ferry app logs</c> and <c>ferry app stop</c> take it.</summary>
    public string AppId { get; }

    /// <summary>The app that is running.</summary>
    public App App => _app;

    internal static async Task<EphemeralApp> StartAsync(App app, AppRunOptions options, CancellationToken cancellationToken)
    {
        if (app.IsRunning)
        {
            throw new InvalidOperationException($"App '{app.Name}' is already running from this program; dispose that run first.");
        }
        var program = ProgramPath(options);
        var ownedConnection = app.Connection is null ? FerryConnection.FromEnvironment() : null;
        var connection = app.Connection ?? ownedConnection!;
        string? appId = null;
        FerryClient? client = null;
        try
        {
            var (buildId, _, _) = await connection.Client.UploadBuildAsync(Path.GetDirectoryName(program)!, Path.GetFileName(program), cancellationToken).ConfigureAwait(false);
            appId = (await connection.Client.SendAsync(HttpMethod.Post, Routes.Apps, new CreateAppRequest(app.Name, buildId, options.Detach),
                ProtocolJsonContext.Default.CreateAppRequest, ProtocolJsonContext.Default.CreateAppResponse, cancellationToken).ConfigureAwait(false)).AppId;
            client = connection.Client.ForApp(appId);
            await client.PublishDefinitionAsync(app.ToDefinition(), cancellationToken).ConfigureAwait(false);
            app.SetRunning(client);
            return new EphemeralApp(app, appId, client, ownedConnection, options);
        }
        catch
        {
            if (appId is not null)
            {
                await StopQuietlyAsync(connection.Client, appId, options.StopTimeout).ConfigureAwait(false);
            }
            client?.Dispose();
            ownedConnection?.Dispose();
            throw;
        }
    }

    private static string ProgramPath(AppRunOptions options)
    {
        // Not Assembly.Location: it is empty in a single-file program. The entry assembly's file sits in the base
        // directory in every layout that has one on disk.
        var path = options.Program
            ?? (Assembly.GetEntryAssembly()?.GetName().Name is { } entry ? Path.Combine(AppContext.BaseDirectory, entry + ".dll") : null);
        if (string.IsNullOrEmpty(path))
        {
            throw new InvalidRequestException(
                $"This process has no entry assembly on disk to upload; name the app's program with {nameof(AppRunOptions)}.{nameof(AppRunOptions.Program)}.");
        }
        path = Path.GetFullPath(path);
        if (!File.Exists(path))
        {
            throw new InvalidRequestException($"The program '{path}' does not exist; {nameof(AppRunOptions)}.{nameof(AppRunOptions.Program)} must name a built assembly (.dll).");
        }
        return path;
    }

    /// <summary>Stops the app now (unless detached); the handles go back to the environment's app.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        _app.SetRunning(null);
        if (_heartbeat is not null)
        {
            await _heartbeat.DisposeAsync().ConfigureAwait(false);
        }
        try
        {
            if (!_options.Detach)
            {
                await StopQuietlyAsync(_client, AppId, _options.StopTimeout).ConfigureAwait(false);
            }
        }
        finally
        {
            _client.Dispose();
            _ownedConnection?.Dispose();
        }
    }

    /// <summary>Stops an app, bounded: an app whose server does not answer in time runs on until <c>ferry app stop</c>.</summary>
    private static async Task StopQuietlyAsync(FerryClient client, string appId, TimeSpan timeout)
    {
        using var limit = new CancellationTokenSource(timeout);
        try
        {
            await client.SendAsync<object, AppSummary>(HttpMethod.Post, Routes.StopApp(appId), null, null, ProtocolJsonContext.Default.AppSummary, limit.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FerryException or OperationCanceledException)
        {
        }
    }
}
