using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Ferry.Protocol;

namespace Ferry.Server.Scheduling;

/// <summary>
/// The apps the control plane knows, their functions, and the pool each function variant runs in. Not thread-safe:
/// the scheduler calls it under its lock.
/// </summary>
internal sealed class AppRegistry
{
    private readonly Dictionary<string, AppState> _apps = new(StringComparer.Ordinal);

    public IEnumerable<AppState> Values => _apps.Values;

    /// <summary>The pools of every app that is not stopped.</summary>
    public IEnumerable<PoolState> LivePools => _apps.Values.Where(a => !a.Stopped).SelectMany(a => a.Pools.Values);

    public void Add(AppState app) => _apps[app.AppId] = app;

    public bool Remove(string appId) => _apps.Remove(appId);

    public bool ContainsKey(string appId) => _apps.ContainsKey(appId);

    public bool TryGetValue(string appId, out AppState app) => _apps.TryGetValue(appId, out app!);

    public AppState Require(string appId) =>
        _apps.TryGetValue(appId, out var app) ? app : throw new NotFoundException($"No app has the id '{appId}'.");

    public static FunctionDefinition FindFunction(AppState app, string name)
    {
        var definition = app.Record.Definition
            ?? throw new NotFoundException($"The app '{app.Record.Name}' has not published its functions yet.");
        return definition.Functions.FirstOrDefault(f => f.Name == name)
            ?? throw new NotFoundException($"The app '{app.Record.Name}' has no function '{name}'. It has: {string.Join(", ", definition.Functions.Select(f => f.Name))}.");
    }

    /// <summary>
    /// Refuses a call whose kind does not fit its function: a generator is called only as a stream, and only a
    /// generator is.
    /// </summary>
    public static void RequireKindFits(FunctionDefinition function, string kind)
    {
        if (function.Generator && kind != CallKinds.Stream)
        {
            throw new Api.BadRequestException($"The function '{function.Name}' is a generator: call it with kind '{CallKinds.Stream}' and read its items (RemoteStreamAsync in the SDK).");
        }
        if (!function.Generator && kind == CallKinds.Stream)
        {
            throw new Api.BadRequestException($"The function '{function.Name}' is not a generator (its result is {function.ReturnType}); only a function whose result is IAsyncEnumerable<T> takes kind '{CallKinds.Stream}'.");
        }
    }

    /// <summary>
    /// A class's methods share one pool per set of parameter values and options; a plain function has one pool per
    /// set of options.
    /// </summary>
    public static PoolState GetOrCreatePool(AppState app, FunctionDefinition function, PoolSpec? spec)
    {
        var owner = function.ClassName ?? function.Name;
        var poolId = owner;
        if (spec is not null && (spec.Parameters is not null || spec.Overrides is not null))
        {
            var key = JsonSerializer.Serialize(spec, ProtocolJsonContext.Default.PoolSpec);
            poolId += "@" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..12];
        }
        if (!app.Pools.TryGetValue(poolId, out var pool))
        {
            var settings = spec?.Overrides ?? function.Settings;
            pool = new PoolState(poolId, app, function, settings, spec?.Parameters);
            app.Pools[poolId] = pool;
        }
        return pool;
    }

    /// <summary>Every pool of a function: its class's pools, for a method.</summary>
    public IEnumerable<PoolState> PoolsOf(string appId, string function)
    {
        var app = Require(appId);
        var definition = FindFunction(app, function);
        var owner = definition.ClassName ?? definition.Name;
        return app.Pools.Values.Where(p => (p.Function.ClassName ?? p.Function.Name) == owner);
    }
}
