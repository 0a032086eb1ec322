using System.Linq.Expressions;
using System.Reflection;
using System.Text.Json;
using Ferry.Client;
using Ferry.Hosting;
using Ferry.Protocol;
using Ferry.Serialization;

namespace Ferry;

public abstract partial class Function
{
    /// <summary>
    /// A function of a deployed app, by name (Modal's <c>Function.from_name</c>), as a typed handle:
    /// <c>await Function.FromNameAsync&lt;Function&lt;string, int&gt;&gt;("jobs", "CountWords")</c>. The caller needs only
    /// the argument and result types, not the function's code. Each call goes to the app's version that is current
    /// when the call is made, so a redeploy needs no new lookup.
    /// </summary>
    /// <typeparam name="TFunction">The handle type, such as <see cref="Function{T1, TResult}"/>; its type arguments must match the deployed signature.</typeparam>
    /// <param name="appName">The deployed app's name.</param>
    /// <param name="functionName">The function's name.</param>
    /// <param name="connection">The server to reach. Default: the environment's (inside a container, its own server and token).</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    /// <exception cref="NotFoundException">No deployed app has the name, or the app has no such function; the message lists what it has.</exception>
    /// <exception cref="InvalidRequestException">The deployed function has another signature; the message names both.</exception>
    public static async Task<TFunction> FromNameAsync<TFunction>(string appName, string functionName, FerryConnection? connection = null, CancellationToken cancellationToken = default)
        where TFunction : Function
    {
        ArgumentNullException.ThrowIfNull(appName);
        ArgumentNullException.ThrowIfNull(functionName);
        var type = typeof(TFunction);
        if (!type.IsGenericType || type.GetGenericTypeDefinition().Namespace != typeof(Function).Namespace || !type.Name.StartsWith("Function`", StringComparison.Ordinal))
        {
            throw new InvalidRequestException($"{Payload.TypeName(type)} is not a function handle type; write Function<TArg..., TResult>, such as Function<string, int>.");
        }
        var (client, definition) = await Lookups.ResolveAsync(appName, connection, cancellationToken).ConfigureAwait(false);
        var deployed = Lookups.FindFunction(definition, appName, functionName);
        var arguments = type.GetGenericArguments();
        var handle = Lookups.Create(type, functionName);
        var wanted = arguments[..^1].Select(Payload.TypeName).ToList();
        Lookups.CheckSignature(appName, deployed, wanted, Payload.TypeName(arguments[^1]));
        handle.BoundClient = client;
        return (TFunction)handle;
    }

    /// <summary>
    /// A function of a deployed app, by name, for callers that do not share its types: arguments and result are JSON.
    /// Each call goes to the version that is current when it is made.
    /// </summary>
    /// <param name="appName">The deployed app's name.</param>
    /// <param name="functionName">The function's name.</param>
    /// <param name="connection">The server to reach. Default: the environment's.</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    /// <exception cref="NotFoundException">No deployed app has the name, or the app has no such function; the message lists what it has.</exception>
    public static async Task<FunctionReference> FromNameAsync(string appName, string functionName, FerryConnection? connection = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(appName);
        ArgumentNullException.ThrowIfNull(functionName);
        var (client, definition) = await Lookups.ResolveAsync(appName, connection, cancellationToken).ConfigureAwait(false);
        return new FunctionReference(client, appName, Lookups.FindFunction(definition, appName, functionName));
    }
}

/// <summary>
/// A function of a deployed app looked up with <see cref="Function.FromNameAsync(string, string, FerryConnection?, CancellationToken)"/>,
/// called with JSON arguments and answering JSON.
/// </summary>
public sealed class FunctionReference
{
    private readonly FerryClient _client;
    private readonly FunctionDefinition _definition;

    internal FunctionReference(FerryClient client, string appName, FunctionDefinition definition)
    {
        _client = client;
        _definition = definition;
        AppName = appName;
    }

    /// <summary>The deployed app's name.</summary>
    public string AppName { get; }

    /// <summary>The function's name; a class method's is <c>Class.Method</c>.</summary>
    public string Name => _definition.Name;

    /// <summary>The deployed signature, such as <c>Function&lt;String, Int32&gt;</c>.</summary>
    public string Signature => Lookups.Signature(_definition.Parameters.Select(p => p.Type), _definition.ReturnType);

    /// <summary>Runs the function with positional JSON arguments and returns its JSON result.</summary>
    /// <param name="args">One JSON value per parameter, in order.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="InvalidRequestException">The number of arguments differs from the function's.</exception>
    /// <exception cref="RemoteException">The function threw.</exception>
    public Task<JsonElement> RemoteAsync(IReadOnlyList<JsonElement> args, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Count != _definition.Parameters.Count)
        {
            throw new InvalidRequestException($"{Name} of app '{AppName}' takes {_definition.Parameters.Count} argument(s) ({Signature}); {args.Count} were given.");
        }
        var packed = Payload.Pack(w =>
        {
            foreach (var arg in args)
            {
                arg.WriteTo(w);
            }
        });
        return _client.RemoteAsync<JsonElement>(Name, null, packed, cancellationToken);
    }
}

/// <summary>Class handles of deployed apps, by name.</summary>
public static class Cls
{
    /// <summary>
    /// A class of a deployed app, by name (Modal's <c>Cls.from_name</c>): <c>await Cls.FromNameAsync&lt;Model&gt;("ml")</c>.
    /// <typeparamref name="T"/> is the class as the caller knows it, for example from a library it shares with the
    /// app; its <see cref="MethodAttribute">[Method]</see>s are checked against the deployed ones. Calls go to the
    /// version that is current when each is made.
    /// </summary>
    /// <typeparam name="T">The class.</typeparam>
    /// <param name="appName">The deployed app's name.</param>
    /// <param name="className">The class's name in the app. Default: <typeparamref name="T"/>'s name.</param>
    /// <param name="connection">The server to reach. Default: the environment's.</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    /// <exception cref="NotFoundException">No deployed app has the name, or it has no such class or method; the message lists what it has.</exception>
    /// <exception cref="InvalidRequestException">A method has another signature in the deployed app; the message names both.</exception>
    public static async Task<Cls<T>> FromNameAsync<T>(string appName, string? className = null, FerryConnection? connection = null, CancellationToken cancellationToken = default)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(appName);
        var (client, definition) = await Lookups.ResolveAsync(appName, connection, cancellationToken).ConfigureAwait(false);
        var name = className ?? typeof(T).Name;
        var methods = definition.Functions.Where(f => f.ClassName == name).ToList();
        if (methods.Count == 0)
        {
            var classes = definition.Functions.Select(f => f.ClassName).OfType<string>().Distinct().ToList();
            throw new NotFoundException($"App '{appName}' has no class '{name}'. Its classes: {(classes.Count == 0 ? "none" : string.Join(", ", classes))}.");
        }
        var registration = new ClassRegistration(typeof(T), new FunctionOptions(), null) { BoundClient = client };
        if (registration.Name != name)
        {
            throw new InvalidRequestException($"The class is named '{name}' in app '{appName}', but the local type is '{registration.Name}'; a class is called by its type's name.");
        }
        foreach (var (method, methodName) in registration.Methods)
        {
            var deployed = methods.FirstOrDefault(f => f.Name == methodName)
                ?? throw new NotFoundException($"Class '{name}' of app '{appName}' has no method '{methodName}'. Its methods: {string.Join(", ", methods.Select(m => m.Name))}.");
            var local = new ClassMethod(registration, method, methodName);
            Lookups.CheckSignature(appName, deployed, [.. local.ParameterTypes.Select(Payload.TypeName)], Payload.TypeName(local.ResultType));
        }
        return new Cls<T>(registration, null, registration.DefaultParameters);
    }
}

/// <summary>What the lookups by name share: reaching the server, reading the current definition, checking signatures.</summary>
internal static class Lookups
{
    public static async Task<(FerryClient Client, AppDefinition Definition)> ResolveAsync(string appName, FerryConnection? connection, CancellationToken cancellationToken)
    {
        var server = connection?.Client ?? FerryContext.Client;
        var client = server.ForApp(appName);
        var definition = await client.SendAsync<object, AppDefinition>(HttpMethod.Get, Routes.Definition(appName), null, null,
            ProtocolJsonContext.Default.AppDefinition, cancellationToken).ConfigureAwait(false);
        return (client, definition);
    }

    public static FunctionDefinition FindFunction(AppDefinition definition, string appName, string functionName)
    {
        var function = definition.Functions.FirstOrDefault(f => f.Name == functionName)
            ?? throw new NotFoundException(
                $"App '{appName}' has no function '{functionName}'. Its functions: {(definition.Functions.Count == 0 ? "none" : string.Join(", ", definition.Functions.Select(f => f.Name)))}.");
        return function;
    }

    public static string Signature(IEnumerable<string> parameters, string result) => $"Function<{string.Join(", ", parameters.Append(result))}>";

    public static void CheckSignature(string appName, FunctionDefinition deployed, IReadOnlyList<string> parameters, string result)
    {
        if (!deployed.Parameters.Select(p => p.Type).SequenceEqual(parameters, StringComparer.Ordinal) || !string.Equals(deployed.ReturnType, result, StringComparison.Ordinal))
        {
            throw new InvalidRequestException(
                $"'{deployed.Name}' of app '{appName}' is {Signature(deployed.Parameters.Select(p => p.Type), deployed.ReturnType)} in the deployed version, but the lookup asked for {Signature(parameters, result)}.");
        }
    }

    /// <summary>A typed handle whose local body says that a looked-up function runs remotely only.</summary>
    public static Function Create(Type handleType, string name)
    {
        var arguments = handleType.GetGenericArguments();
        var body = handleType.GetNestedType("Body", BindingFlags.NonPublic)!.MakeGenericType(arguments);
        var invoke = body.GetMethod("Invoke")!;
        var parameters = invoke.GetParameters().Select(p => Expression.Parameter(p.ParameterType, p.Name)).ToArray();
        var error = Expression.Throw(
            Expression.Constant(new InvalidRequestException($"'{name}' was looked up by name: it runs in its deployed app only. Call RemoteAsync.")),
            invoke.ReturnType);
        var local = Expression.Lambda(body, error, parameters).Compile();
        var constructor = handleType.GetConstructors(BindingFlags.NonPublic | BindingFlags.Instance)
            .Single(c => c.GetParameters().Length == 4);
        return (Function)constructor.Invoke([name, new FunctionOptions(), local, local]);
    }
}
