using System.Runtime.CompilerServices;
using Ferry.Client;
using Ferry.Hosting;
using Ferry.Protocol;
using Ferry.Serialization;

namespace Ferry;

/// <summary>
/// A Ferry app: the functions, classes and entrypoints of one program. Declare everything at the top of the program,
/// then hand control to <see cref="RunAsync"/>, which runs whatever the program was started for: describing the app,
/// running a local entrypoint, or serving inputs inside a container.
/// </summary>
/// <example>
/// <code>
/// var app = new App("my-app");
/// var hello = app.Function(Hello);
/// app.LocalEntrypoint(async () => Console.WriteLine(await hello.RemoteAsync()));
/// return await app.RunAsync(args);
///
/// static string Hello() => "Hello from Ferry!";
/// </code>
/// </example>
public sealed partial class App
{
    private readonly Dictionary<string, Function> _functions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Entrypoint> _entrypoints = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ClassRegistration> _classes = new(StringComparer.Ordinal);

    private FerryClient? _running;

    /// <summary>Creates an app.</summary>
    /// <param name="name">The app's name. Default: the entry assembly's name.</param>
    /// <param name="image">The image of every function that does not name its own. Default: <see cref="Image.DebianSlim"/>.</param>
    /// <param name="connection">
    /// The server <see cref="RunEphemeralAsync"/> runs the app on. Default: the environment's
    /// (<see cref="FerryConnection.FromEnvironment"/>). A program that Ferry started (<c>ferry run</c>, a container)
    /// always calls the app Ferry started it for.
    /// </param>
    /// <param name="secrets">Secrets attached to every function of the app, before each function's own (<see cref="FunctionOptions.Secrets"/>). Default: none.</param>
    public App(string? name = null, Image? image = null, FerryConnection? connection = null, IReadOnlyList<Secret>? secrets = null)
    {
        Name = name ?? System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name ?? "app";
        Image = image;
        Connection = connection;
        Secrets = secrets ?? [];
    }

    /// <summary>The secrets every function of the app attaches.</summary>
    public IReadOnlyList<Secret> Secrets { get; }

    /// <summary>
    /// The app this program is running: the one whose <see cref="RunAsync"/> or <see cref="RunEphemeralAsync"/> was
    /// called last, or null before either. Code that cannot see the app's variable (a class's methods, a helper
    /// library) reaches the app's functions through it: <c>App.Current!.Lookup&lt;Function&lt;int, int&gt;&gt;("Square")</c>.
    /// </summary>
    public static App? Current { get; private set; }

    /// <summary>The server this app was given, or null to use the environment's.</summary>
    public FerryConnection? Connection { get; }

    /// <summary>
    /// The client calls of this app's functions go through: the run <see cref="RunEphemeralAsync"/> started, else the
    /// app Ferry started this program for.
    /// </summary>
    internal FerryClient Client => _running ?? (Connection is null || FerryContext.StartedByFerry
        ? FerryContext.Client
        : throw new FerryException($"App '{Name}' is not running: start it with app.RunEphemeralAsync(), or run the program with `ferry run`."));

    /// <summary>
    /// The function or class method registered under <paramref name="name"/>, as the handle type it was registered
    /// with: <c>app.Lookup&lt;Function&lt;int, int&gt;&gt;("Square")</c>, <c>app.Lookup&lt;Function&lt;string&gt;&gt;("Model.Describe")</c>.
    /// </summary>
    /// <typeparam name="TFunction">The handle type: <see cref="Ferry.Function"/> itself, or a typed one such as <see cref="Ferry.Function{T1, TResult}"/>.</typeparam>
    /// <param name="name">The function's name; a class method's is <c>Class.Method</c>.</param>
    /// <exception cref="NotFoundException">The app has no function of that name; the message lists those it has.</exception>
    /// <exception cref="InvalidRequestException">The function has another signature, or is a class method (use <see cref="LookupCls{T}"/>); the message says which.</exception>
    public TFunction Lookup<TFunction>(string name)
        where TFunction : Function
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!_functions.TryGetValue(name, out var function))
        {
            throw new NotFoundException($"App '{Name}' has no function named '{name}'. Its functions: {(_functions.Count == 0 ? "none" : string.Join(", ", _functions.Keys))}.");
        }
        if (function is TFunction typed)
        {
            return typed;
        }
        if (function is ClassMethod)
        {
            throw new InvalidRequestException(
                $"'{name}' is a method of class '{function.ClassName}'; reach it through the class: app.LookupCls<{function.ClassName}>().Method(...).");
        }
        throw new InvalidRequestException(
            $"Function '{name}' of app '{Name}' is a {Describe(function)}, not a {Payload.TypeName(typeof(TFunction))}.");
    }

    /// <summary>The class <typeparamref name="T"/> as registered with <see cref="Cls{T}(FunctionOptions?)"/>, for code that cannot see that handle.</summary>
    /// <exception cref="NotFoundException">The class is not registered on this app.</exception>
    public Cls<T> LookupCls<T>()
        where T : class =>
        _classes.Values.FirstOrDefault(c => c.Type == typeof(T)) is { } registration
            ? new Cls<T>(registration, null, registration.DefaultParameters)
            : throw new NotFoundException($"App '{Name}' has no class {typeof(T).Name}; register it with app.Cls<{typeof(T).Name}>().");

    internal static string Describe(Function function) =>
        $"Function<{string.Join(", ", function.ParameterTypes.Append(function.ResultType).Select(Payload.TypeName))}>";

    /// <summary>The app's name.</summary>
    public string Name { get; }

    /// <summary>The default image of the app's functions.</summary>
    public Image? Image { get; }

    /// <summary>The functions registered so far, by name.</summary>
    public IReadOnlyDictionary<string, Function> Functions => _functions;

    internal IReadOnlyDictionary<string, Entrypoint> Entrypoints => _entrypoints;

    internal IReadOnlyDictionary<string, ClassRegistration> Classes => _classes;

    /// <summary>
    /// Registers a class whose <see cref="MethodAttribute">[Method]</see>s run remotely on a long-lived instance per
    /// container. The class is checked here: hooks, parameter types and method signatures that cannot work are
    /// rejected with a message that names the member.
    /// </summary>
    /// <param name="options">Resources, limits and scaling shared by every method of the class.</param>
    public Cls<T> Cls<T>(FunctionOptions? options = null)
        where T : class
    {
        var registration = new ClassRegistration(typeof(T), Checked(options, typeof(T).Name, ""), Image) { App = this };
        if (!_classes.TryAdd(registration.Name, registration))
        {
            throw new InvalidRequestException($"The app already has a class named '{registration.Name}'.");
        }
        foreach (var (method, name) in registration.Methods)
        {
            Add(new ClassMethod(registration, method, name));
        }
        return new Cls<T>(registration, null, registration.DefaultParameters);
    }

    // App.Function for 0 to 16 parameters and every result shape is generated while the SDK builds; see
    // src/Ferry.SdkGenerator.

    /// <summary>
    /// Registers a batched function (Modal's <c>@batched</c>): callers call it per item, and the container gathers up to
    /// <paramref name="maxBatchSize"/> items, waiting at most <paramref name="wait"/>, and calls <paramref name="fn"/>
    /// once with the list. Result <c>i</c> answers item <c>i</c>; an exception fails every item of the batch.
    /// </summary>
    public Function<TItem, TResult> BatchedFunction<TItem, TResult>(
        Func<List<TItem>, Task<List<TResult>>> fn,
        int maxBatchSize,
        TimeSpan wait,
        FunctionOptions? options = null,
        string? name = null,
        [CallerArgumentExpression(nameof(fn))] string expression = "")
    {
        ArgumentNullException.ThrowIfNull(fn);
        var batched = (options ?? new FunctionOptions()).Merge(new FunctionOptions { BatchMaxSize = maxBatchSize, BatchWait = wait });
        async Task<TResult> OneAsync(TItem item)
        {
            var results = await fn([item]).ConfigureAwait(false);
            return results.Count == 1 ? results[0] : throw new InvalidOperationException($"The batched function returned {results.Count} results for 1 input.");
        }
        return Add(new Function<TItem, TResult>(Named(name, expression), Checked(batched, name, expression), fn, (item, _) => OneAsync(item)) { Batch = fn });
    }

    /// <inheritdoc cref="BatchedFunction{TItem, TResult}(Func{List{TItem}, Task{List{TResult}}}, int, TimeSpan, FunctionOptions?, string?, string)"/>
    public Function<TItem, TResult> BatchedFunction<TItem, TResult>(
        Func<List<TItem>, List<TResult>> fn,
        int maxBatchSize,
        TimeSpan wait,
        FunctionOptions? options = null,
        string? name = null,
        [CallerArgumentExpression(nameof(fn))] string expression = "")
    {
        ArgumentNullException.ThrowIfNull(fn);
        return BatchedFunction<TItem, TResult>(items => Task.FromResult(fn(items)), maxBatchSize, wait, options, name ?? IdentifierOf(expression), expression);
    }

    /// <summary>
    /// Registers a local entrypoint: code that runs on the caller's machine under <c>ferry run</c>. Its parameters
    /// become command-line options (<c>--name Ada --count 3</c>); a parameter with no default value is required.
    /// </summary>
    /// <param name="fn">A method or lambda; it may return <see cref="Task"/>, <see cref="Task{TResult}"/> of int (an exit code), int, or nothing.</param>
    /// <param name="name">The entrypoint's name. Default: the method's name, or <c>main</c> for a lambda.</param>
    /// <param name="expression">Filled in by the compiler.</param>
    public void LocalEntrypoint(Delegate fn, string? name = null, [CallerArgumentExpression(nameof(fn))] string expression = "")
    {
        ArgumentNullException.ThrowIfNull(fn);
        var entrypointName = name ?? IdentifierOf(expression) ?? "main";
        if (!_entrypoints.TryAdd(entrypointName, new Entrypoint(entrypointName, fn)))
        {
            throw new InvalidRequestException($"The app already has a local entrypoint named '{entrypointName}'.");
        }
    }

    /// <summary>
    /// Runs the program in the mode Ferry started it in, and returns its exit code. Call it once, after every
    /// registration: <c>return await app.RunAsync(args);</c>.
    /// </summary>
    public Task<int> RunAsync(string[] args, CancellationToken cancellationToken = default)
    {
        DefinitionErrors.RunCalled = true;
        Current = this;
        return ProgramHost.RunAsync(this, args, cancellationToken);
    }

    /// <summary>
    /// Runs the app from this program, as Modal's <c>with app.run():</c> does: uploads the program's build (nothing is
    /// built; the directory of the program's assembly is the app's code, as <c>ferry run</c> would upload it), creates
    /// an app on the server and publishes this app's functions. Until the returned run is disposed, the app's handles
    /// call it (<c>await square.RemoteAsync(3)</c>); disposing it stops the app and its containers.
    /// </summary>
    /// <example>
    /// <code>
    /// await using var run = await app.RunEphemeralAsync();
    /// Console.WriteLine(await square.RemoteAsync(7));
    /// </code>
    /// </example>
    /// <param name="options">The program to upload and whether the app outlives the run; defaults as documented on <see cref="AppRunOptions"/>.</param>
    /// <param name="cancellationToken">Stops starting the app; an app already created is stopped.</param>
    /// <exception cref="InvalidOperationException">The app is already running from this program.</exception>
    /// <exception cref="InvalidRequestException">The program's assembly cannot be found.</exception>
    /// <exception cref="FerryException">No server is configured, or it refused the app.</exception>
    public Task<EphemeralApp> RunEphemeralAsync(AppRunOptions? options = null, CancellationToken cancellationToken = default) =>
        EphemeralApp.StartAsync(this, options ?? new AppRunOptions(), cancellationToken);

    internal bool IsRunning => _running is not null;

    /// <summary>Points the app's handles at a run of it (or back at the environment, with null).</summary>
    internal void SetRunning(FerryClient? client)
    {
        if (client is not null)
        {
            if (Interlocked.CompareExchange(ref _running, client, null) is not null)
            {
                throw new InvalidOperationException($"App '{Name}' is already running from this program; dispose that run first.");
            }
            Current = this;
        }
        else
        {
            _running = null;
        }
    }

    /// <summary>Describes the app as the control plane sees it.</summary>
    public AppDefinition ToDefinition() => new(
        Name,
        _functions.Values.Select(f => WithAppSecrets(f.ToDefinition(Image))).ToList(),
        _entrypoints.Values.Select(e => new EntrypointDefinition(e.Name, e.Parameters.Select(p => p.ToDefinition()).ToList())).ToList());

    private FunctionDefinition WithAppSecrets(FunctionDefinition function) => Secrets.Count == 0 ? function : function with
    {
        Settings = function.Settings with { Secrets = [.. Secrets.Select(s => s.ToRef()), .. function.Settings.Secrets ?? []] },
    };

    private TFunction Add<TFunction>(TFunction function)
        where TFunction : Function
    {
        foreach (var (type, i) in function.ParameterTypes.Select((t, i) => (t, i)))
        {
            if (type == typeof(CancellationToken))
            {
                throw new InvalidRequestException(
                    $"Parameter {i + 1} of function '{function.Name}' is a CancellationToken, which callers cannot send. Make it the last parameter and leave it out of the type arguments; the runtime supplies it.");
            }
            Payload.EnsureSerializable(type, $"Parameter {i + 1} of function '{function.Name}'");
        }
        Payload.EnsureSerializable(ItemSequences.ItemType(function.ResultType) ?? function.ResultType, $"The result of function '{function.Name}'");
        if (function.Options.Schedule is { } schedule && function.ParameterTypes.Length > 0)
        {
            throw new InvalidRequestException($"Function '{function.Name}' has a schedule ({schedule}) but takes {function.ParameterTypes.Length} argument(s); a scheduled function takes none.");
        }
        function.AppImage = Image;
        function.App = this;
        if (!_functions.TryAdd(function.Name, function))
        {
            throw new InvalidRequestException($"The app already has a function named '{function.Name}'. Pass name: to tell them apart.");
        }
        return function;
    }

    private static FunctionOptions Checked(FunctionOptions? options, string? name, string expression)
    {
        options ??= new FunctionOptions();
        options.Validate(name ?? IdentifierOf(expression) ?? "function");
        return options;
    }

    private static string Named(string? name, string expression)
    {
        var resolved = name ?? IdentifierOf(expression)
            ?? throw new InvalidRequestException(
                $"A function defined by a lambda needs a name: app.Function({expression}, name: \"my_function\").");
        if (resolved.Length is 0 or > 128 || !resolved.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
        {
            throw new InvalidRequestException($"'{resolved}' is not a valid function name: use 1 to 128 letters, digits, '_', '-' or '.'.");
        }
        return resolved;
    }

    /// <summary>The method name in a method-group expression such as <c>Square</c> or <c>Math.Square</c>.</summary>
    internal static string? IdentifierOf(string expression)
    {
        var last = expression.Split('.').Last().Trim();
        return last.Length > 0 && (char.IsLetter(last[0]) || last[0] == '_') && last.All(c => char.IsLetterOrDigit(c) || c == '_') ? last : null;
    }
}
