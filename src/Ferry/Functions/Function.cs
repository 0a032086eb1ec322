using System.Text.Json;
using Ferry.Client;
using Ferry.Hosting;
using Ferry.Protocol;
using Ferry.Serialization;

namespace Ferry;

/// <summary>
/// A function registered on an <see cref="App"/>. The typed subclasses (<see cref="Function{TResult}"/>,
/// <see cref="Function{T1, TResult}"/> and so on) carry the calls; this base carries what every function shares.
/// </summary>
public abstract class Function
{
    private protected Function(string name, FunctionOptions options, Delegate implementation)
    {
        Name = name;
        Options = options;
        EffectiveOptions = options;
        Implementation = implementation;
    }

    /// <summary>The function's name, unique within its app.</summary>
    public string Name { get; }

    /// <summary>The options the function was defined with.</summary>
    public FunctionOptions Options { get; }

    internal Delegate Implementation { get; }

    /// <summary>The pool calls go to: class parameters and option overrides; null for the function as defined.</summary>
    internal PoolSpec? Pool { get; private protected set; }

    /// <summary>The class a method belongs to, or null for a plain function.</summary>
    internal string? ClassName { get; init; }

    /// <summary>The app's default image, for option overrides of variants.</summary>
    internal Image? AppImage { get; set; }

    /// <summary>The app the function is registered on, or null for a handle made outside one.</summary>
    internal App? App { get; set; }

    /// <summary>The client every call of this handle goes through: its app's.</summary>
    internal FerryClient Client => App?.Client ?? FerryContext.Client;

    /// <summary>The class parameters of a class method's pool, or null.</summary>
    internal JsonElement? Parameters { get; set; }

    /// <summary>The options in force: those defined, with any variant's overrides on top.</summary>
    internal FunctionOptions EffectiveOptions { get; private set; } = null!;

    /// <summary>A copy of this function whose calls go to their own pool, with the given parameters and options.</summary>
    internal Function Variant(FunctionOptions? overrides, JsonElement? parameters)
    {
        var copy = (Function)MemberwiseClone();
        copy.EffectiveOptions = overrides is null ? EffectiveOptions : EffectiveOptions.Merge(overrides);
        copy.EffectiveOptions.Validate(Name);
        copy.Parameters = parameters ?? Parameters;
        var changed = overrides is not null;
        copy.Pool = changed || copy.Parameters is not null
            ? new PoolSpec(copy.Parameters, changed ? copy.EffectiveOptions.ToSettings(AppImage) : Pool?.Overrides)
            : null;
        return copy;
    }

    internal abstract Type[] ParameterTypes { get; }

    internal abstract Type ResultType { get; }

    /// <summary>
    /// Runs one input in this process: deserializes the arguments, calls the function with
    /// <paramref name="cancellationToken"/> if it takes one, serializes the result.
    /// </summary>
    internal abstract Task<JsonElement> InvokeJsonAsync(JsonElement args, CancellationToken cancellationToken);

    /// <summary>The backlog, containers and running inputs of this function right now.</summary>
    public async Task<FunctionStats> GetCurrentStatsAsync(CancellationToken cancellationToken = default)
    {
        var client = Client;
        var stats = Pool is null
            ? await client.GetStatsAsync(Name, cancellationToken).ConfigureAwait(false)
            : await client.SendAsync(HttpMethod.Post, Routes.Stats(client.AppId, Name),
                Pool, ProtocolJsonContext.Default.PoolSpec, ProtocolJsonContext.Default.FunctionStats, cancellationToken).ConfigureAwait(false);
        return FunctionStats.From(stats);
    }

    /// <summary>
    /// Changes this function's autoscaler until the app is deployed again. Arguments left null keep their value.
    /// </summary>
    /// <returns>The settings now in force.</returns>
    public async Task<AutoscalerSettings> UpdateAutoscalerAsync(
        int? minContainers = null,
        int? maxContainers = null,
        int? bufferContainers = null,
        TimeSpan? scaledownWindow = null,
        CancellationToken cancellationToken = default) =>
        AutoscalerSettings.From(await Client.UpdateAutoscalerAsync(
            Name,
            new AutoscalerUpdate(minContainers, maxContainers, bufferContainers, scaledownWindow?.TotalSeconds, Pool),
            cancellationToken).ConfigureAwait(false));

    internal FunctionDefinition ToDefinition(Image? appImage)
    {
        var parameters = Implementation.Method.GetParameters();
        return new FunctionDefinition(
            Name,
            ParameterTypes.Select((type, i) => new ParameterDefinition(
                i < parameters.Length && !string.IsNullOrEmpty(parameters[i].Name) ? parameters[i].Name! : $"arg{i}",
                Payload.TypeName(type),
                Required: true)).ToList(),
            Payload.TypeName(ResultType),
            Options.ToSettings(appImage),
            ClassName);
    }

    internal static JsonElement Arguments(JsonElement args, int count, string function)
    {
        if (args.ValueKind != JsonValueKind.Array || args.GetArrayLength() != count)
        {
            throw new InvalidRequestException($"{function} takes {count} argument(s); the input had {(args.ValueKind == JsonValueKind.Array ? args.GetArrayLength() : 0)}.");
        }
        return args;
    }

    private protected static IEnumerable<JsonElement> PackEach<T>(IEnumerable<T> items, Func<T, JsonElement> pack)
    {
        foreach (var item in items)
        {
            yield return pack(item);
        }
    }
}

/// <summary>A function that takes no arguments.</summary>
/// <typeparam name="TResult">The function's result type.</typeparam>
public sealed class Function<TResult> : Function
{
    /// <summary>A variant with other options, such as a different GPU or timeout. It runs in its own pool of containers.</summary>
    public Function<TResult> WithOptions(FunctionOptions options) => (Function<TResult>)Variant(options, null);

    /// <summary>A variant whose containers each run up to <paramref name="maxInputs"/> inputs at once, aiming for <paramref name="targetInputs"/>.</summary>
    public Function<TResult> WithConcurrency(int maxInputs, int? targetInputs = null) =>
        (Function<TResult>)Variant(new FunctionOptions { MaxInputs = maxInputs, TargetInputs = targetInputs }, null);

    private readonly Func<CancellationToken, Task<TResult>> _fn;

    internal Function(string name, FunctionOptions options, Delegate implementation, Func<CancellationToken, Task<TResult>> fn)
        : base(name, options, implementation) => _fn = fn;

    internal override Type[] ParameterTypes => [];

    internal override Type ResultType => typeof(TResult);

    /// <summary>
    /// Runs the function in a container and returns its result. Cancelling <c>cancellationToken</c> cancels the call
    /// (its token in the container is cancelled) and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    /// <exception cref="RemoteException">The function threw.</exception>
    /// <exception cref="FunctionTimeoutException">An attempt ran past the function's timeout.</exception>
    /// <exception cref="InputCancelledException">The call was cancelled elsewhere, or its app stopped.</exception>
    public Task<TResult> RemoteAsync(CancellationToken cancellationToken = default) =>
        Invocation.RemoteAsync<TResult>(Client, Name, Pool, Pack(), cancellationToken);

    /// <summary>Runs the function in this process.</summary>
    /// <param name="cancellationToken">Passed to the function, if it takes a <see cref="CancellationToken"/>.</param>
    public Task<TResult> LocalAsync(CancellationToken cancellationToken = default) => _fn(cancellationToken);

    /// <summary>Starts the function in a container and returns at once with a handle on the call.</summary>
    public async Task<FunctionCall<TResult>> SpawnAsync(CancellationToken cancellationToken = default) =>
        new(await Invocation.SpawnAsync(Client, Name, Pool, Pack(), cancellationToken).ConfigureAwait(false), Name, Client);

    internal override async Task<JsonElement> InvokeJsonAsync(JsonElement args, CancellationToken cancellationToken)
    {
        Arguments(args, 0, Name);
        return Payload.ToElement(await _fn(cancellationToken).ConfigureAwait(false));
    }

    private static JsonElement Pack() => Payload.Pack(static _ => { });
}

/// <summary>A function of one argument.</summary>
/// <typeparam name="T1">The argument's type.</typeparam>
/// <typeparam name="TResult">The function's result type.</typeparam>
public sealed class Function<T1, TResult> : Function, IBatchable
{
    /// <summary>A variant with other options, such as a different GPU or timeout. It runs in its own pool of containers.</summary>
    public Function<T1, TResult> WithOptions(FunctionOptions options) => (Function<T1, TResult>)Variant(options, null);

    /// <summary>A variant whose containers each run up to <paramref name="maxInputs"/> inputs at once, aiming for <paramref name="targetInputs"/>.</summary>
    public Function<T1, TResult> WithConcurrency(int maxInputs, int? targetInputs = null) =>
        (Function<T1, TResult>)Variant(new FunctionOptions { MaxInputs = maxInputs, TargetInputs = targetInputs }, null);

    private readonly Func<T1, CancellationToken, Task<TResult>> _fn;

    internal Function(string name, FunctionOptions options, Delegate implementation, Func<T1, CancellationToken, Task<TResult>> fn)
        : base(name, options, implementation) => _fn = fn;

    /// <summary>The list-in, list-out body of a batched function; null for a function called per item.</summary>
    internal Func<List<T1>, Task<List<TResult>>>? Batch { get; init; }

    bool IBatchable.IsBatched => Batch is not null;

    /// <summary>Calls the batched body once with every input's item; one result per input, in order.</summary>
    async Task<IReadOnlyList<JsonElement>> IBatchable.InvokeBatchAsync(IReadOnlyList<JsonElement> inputs)
    {
        var items = inputs.Select(args => Payload.Read<T1>(Arguments(args, 1, Name)[0])).ToList();
        var results = await Batch!(items).ConfigureAwait(false);
        if (results is null || results.Count != items.Count)
        {
            throw new InvalidOperationException(
                $"The batched function '{Name}' returned {(results is null ? "null" : results.Count + " results")} for {items.Count} inputs; it must return one result per input, in order.");
        }
        return [.. results.Select(r => Payload.ToElement(r))];
    }

    internal override Type[] ParameterTypes => [typeof(T1)];

    internal override Type ResultType => typeof(TResult);

    /// <summary>
    /// Runs the function in a container and returns its result. Cancelling <c>cancellationToken</c> cancels the call
    /// (its token in the container is cancelled) and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    /// <exception cref="RemoteException">The function threw.</exception>
    /// <exception cref="FunctionTimeoutException">An attempt ran past the function's timeout.</exception>
    /// <exception cref="InputCancelledException">The call was cancelled elsewhere, or its app stopped.</exception>
    public Task<TResult> RemoteAsync(T1 arg, CancellationToken cancellationToken = default) =>
        Invocation.RemoteAsync<TResult>(Client, Name, Pool, Pack(arg), cancellationToken);

    /// <summary>Runs the function in this process.</summary>
    /// <param name="arg">The argument.</param>
    /// <param name="cancellationToken">Passed to the function, if it takes a <see cref="CancellationToken"/>.</param>
    public Task<TResult> LocalAsync(T1 arg, CancellationToken cancellationToken = default) => _fn(arg, cancellationToken);

    /// <summary>Starts the function in a container and returns at once with a handle on the call.</summary>
    public async Task<FunctionCall<TResult>> SpawnAsync(T1 arg, CancellationToken cancellationToken = default) =>
        new(await Invocation.SpawnAsync(Client, Name, Pool, Pack(arg), cancellationToken).ConfigureAwait(false), Name, Client);

    /// <summary>
    /// Runs the function on every input in parallel containers. Results come in input order, or in completion order
    /// when <paramref name="orderOutputs"/> is false. The first failed input throws; use <see cref="MapOutcomesAsync"/>
    /// to receive failures as values.
    /// </summary>
    public async IAsyncEnumerable<TResult> MapAsync(IEnumerable<T1> inputs, bool orderOutputs = true, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var outcome in MapOutcomesAsync(inputs, orderOutputs, cancellationToken).ConfigureAwait(false))
        {
            yield return outcome.GetValueOrThrow();
        }
    }

    /// <summary>Like <see cref="MapAsync"/>, but a failed input yields its exception instead of throwing (Modal's <c>return_exceptions=True</c>).</summary>
    public IAsyncEnumerable<Outcome<TResult>> MapOutcomesAsync(IEnumerable<T1> inputs, bool orderOutputs = true, CancellationToken cancellationToken = default) =>
        Invocation.MapAsync<TResult>(Client, Name, Pool, PackEach(inputs, Pack), orderOutputs, CallKinds.Map, cancellationToken);

    /// <summary>Runs the function on every input and discards the results.</summary>
    /// <param name="inputs">The inputs.</param>
    /// <param name="ignoreExceptions">When false (the default) the first failure throws once every input has finished.</param>
    /// <param name="cancellationToken">Stops waiting and cancels the remaining inputs.</param>
    public Task ForEachAsync(IEnumerable<T1> inputs, bool ignoreExceptions = false, CancellationToken cancellationToken = default) =>
        Drain(MapOutcomesAsync(inputs, orderOutputs: false, cancellationToken), ignoreExceptions);

    /// <summary>Submits every input and returns once they are all durably queued, with a handle to follow the map by, without waiting for results.</summary>
    public async Task<FunctionCallMap<TResult>> SpawnMapAsync(IEnumerable<T1> inputs, CancellationToken cancellationToken = default) =>
        new(await Invocation.SpawnMapAsync(Client, Name, Pool, PackEach(inputs, Pack), cancellationToken).ConfigureAwait(false), Name, Client);

    internal override async Task<JsonElement> InvokeJsonAsync(JsonElement args, CancellationToken cancellationToken)
    {
        Arguments(args, 1, Name);
        return Payload.ToElement(await _fn(Payload.Read<T1>(args[0]), cancellationToken).ConfigureAwait(false));
    }

    private static JsonElement Pack(T1 arg) => Payload.Pack(w => Payload.Write(w, arg));

    internal static async Task Drain(IAsyncEnumerable<Outcome<TResult>> outcomes, bool ignoreExceptions)
    {
        FerryException? first = null;
        await foreach (var outcome in outcomes.ConfigureAwait(false))
        {
            first ??= outcome.Exception;
        }
        if (first is not null && !ignoreExceptions)
        {
            throw first;
        }
    }
}

/// <summary>A function of two arguments.</summary>
public sealed class Function<T1, T2, TResult> : Function
{
    /// <summary>A variant with other options, such as a different GPU or timeout. It runs in its own pool of containers.</summary>
    public Function<T1, T2, TResult> WithOptions(FunctionOptions options) => (Function<T1, T2, TResult>)Variant(options, null);

    /// <summary>A variant whose containers each run up to <paramref name="maxInputs"/> inputs at once, aiming for <paramref name="targetInputs"/>.</summary>
    public Function<T1, T2, TResult> WithConcurrency(int maxInputs, int? targetInputs = null) =>
        (Function<T1, T2, TResult>)Variant(new FunctionOptions { MaxInputs = maxInputs, TargetInputs = targetInputs }, null);

    private readonly Func<T1, T2, CancellationToken, Task<TResult>> _fn;

    internal Function(string name, FunctionOptions options, Delegate implementation, Func<T1, T2, CancellationToken, Task<TResult>> fn)
        : base(name, options, implementation) => _fn = fn;

    internal override Type[] ParameterTypes => [typeof(T1), typeof(T2)];

    internal override Type ResultType => typeof(TResult);

    /// <inheritdoc cref="Function{TResult}.RemoteAsync(CancellationToken)"/>
    public Task<TResult> RemoteAsync(T1 arg1, T2 arg2, CancellationToken cancellationToken = default) =>
        Invocation.RemoteAsync<TResult>(Client, Name, Pool, Pack((arg1, arg2)), cancellationToken);

    /// <summary>Runs the function in this process.</summary>
    /// <param name="arg1">The first argument.</param>
    /// <param name="arg2">The second argument.</param>
    /// <param name="cancellationToken">Passed to the function, if it takes a <see cref="CancellationToken"/>.</param>
    public Task<TResult> LocalAsync(T1 arg1, T2 arg2, CancellationToken cancellationToken = default) => _fn(arg1, arg2, cancellationToken);

    /// <summary>Starts the function in a container and returns at once with a handle on the call.</summary>
    public async Task<FunctionCall<TResult>> SpawnAsync(T1 arg1, T2 arg2, CancellationToken cancellationToken = default) =>
        new(await Invocation.SpawnAsync(Client, Name, Pool, Pack((arg1, arg2)), cancellationToken).ConfigureAwait(false), Name, Client);

    /// <summary>Runs the function on pairs taken from the two sequences in step, like Modal's <c>map</c> with two iterables.</summary>
    public IAsyncEnumerable<TResult> MapAsync(IEnumerable<T1> first, IEnumerable<T2> second, bool orderOutputs = true, CancellationToken cancellationToken = default) =>
        StarMapAsync(first.Zip(second), orderOutputs, cancellationToken);

    /// <summary>Runs the function on every tuple of arguments (Modal's <c>starmap</c>).</summary>
    public async IAsyncEnumerable<TResult> StarMapAsync(IEnumerable<(T1, T2)> inputs, bool orderOutputs = true, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var outcome in StarMapOutcomesAsync(inputs, orderOutputs, cancellationToken).ConfigureAwait(false))
        {
            yield return outcome.GetValueOrThrow();
        }
    }

    /// <summary>Like <see cref="StarMapAsync"/>, but a failed input yields its exception instead of throwing.</summary>
    public IAsyncEnumerable<Outcome<TResult>> StarMapOutcomesAsync(IEnumerable<(T1, T2)> inputs, bool orderOutputs = true, CancellationToken cancellationToken = default) =>
        Invocation.MapAsync<TResult>(Client, Name, Pool, PackEach(inputs, Pack), orderOutputs, CallKinds.Map, cancellationToken);

    /// <summary>Runs the function on every tuple and discards the results.</summary>
    public Task ForEachAsync(IEnumerable<(T1, T2)> inputs, bool ignoreExceptions = false, CancellationToken cancellationToken = default) =>
        Function<T1, TResult>.Drain(StarMapOutcomesAsync(inputs, orderOutputs: false, cancellationToken), ignoreExceptions);

    /// <summary>Submits every tuple and returns once they are all durably queued, with a handle to follow the map by, without waiting for results.</summary>
    public async Task<FunctionCallMap<TResult>> SpawnMapAsync(IEnumerable<(T1, T2)> inputs, CancellationToken cancellationToken = default) =>
        new(await Invocation.SpawnMapAsync(Client, Name, Pool, PackEach(inputs, Pack), cancellationToken).ConfigureAwait(false), Name, Client);

    internal override async Task<JsonElement> InvokeJsonAsync(JsonElement args, CancellationToken cancellationToken)
    {
        Arguments(args, 2, Name);
        return Payload.ToElement(await _fn(Payload.Read<T1>(args[0]), Payload.Read<T2>(args[1]), cancellationToken).ConfigureAwait(false));
    }

    private static JsonElement Pack((T1, T2) args) => Payload.Pack(w =>
    {
        Payload.Write(w, args.Item1);
        Payload.Write(w, args.Item2);
    });
}

/// <summary>A function of three arguments.</summary>
public sealed class Function<T1, T2, T3, TResult> : Function
{
    /// <summary>A variant with other options, such as a different GPU or timeout. It runs in its own pool of containers.</summary>
    public Function<T1, T2, T3, TResult> WithOptions(FunctionOptions options) => (Function<T1, T2, T3, TResult>)Variant(options, null);

    /// <summary>A variant whose containers each run up to <paramref name="maxInputs"/> inputs at once, aiming for <paramref name="targetInputs"/>.</summary>
    public Function<T1, T2, T3, TResult> WithConcurrency(int maxInputs, int? targetInputs = null) =>
        (Function<T1, T2, T3, TResult>)Variant(new FunctionOptions { MaxInputs = maxInputs, TargetInputs = targetInputs }, null);

    private readonly Func<T1, T2, T3, CancellationToken, Task<TResult>> _fn;

    internal Function(string name, FunctionOptions options, Delegate implementation, Func<T1, T2, T3, CancellationToken, Task<TResult>> fn)
        : base(name, options, implementation) => _fn = fn;

    internal override Type[] ParameterTypes => [typeof(T1), typeof(T2), typeof(T3)];

    internal override Type ResultType => typeof(TResult);

    /// <inheritdoc cref="Function{TResult}.RemoteAsync(CancellationToken)"/>
    public Task<TResult> RemoteAsync(T1 arg1, T2 arg2, T3 arg3, CancellationToken cancellationToken = default) =>
        Invocation.RemoteAsync<TResult>(Client, Name, Pool, Pack((arg1, arg2, arg3)), cancellationToken);

    /// <summary>Runs the function in this process.</summary>
    /// <param name="arg1">The first argument.</param>
    /// <param name="arg2">The second argument.</param>
    /// <param name="arg3">The third argument.</param>
    /// <param name="cancellationToken">Passed to the function, if it takes a <see cref="CancellationToken"/>.</param>
    public Task<TResult> LocalAsync(T1 arg1, T2 arg2, T3 arg3, CancellationToken cancellationToken = default) => _fn(arg1, arg2, arg3, cancellationToken);

    /// <summary>Starts the function in a container and returns at once with a handle on the call.</summary>
    public async Task<FunctionCall<TResult>> SpawnAsync(T1 arg1, T2 arg2, T3 arg3, CancellationToken cancellationToken = default) =>
        new(await Invocation.SpawnAsync(Client, Name, Pool, Pack((arg1, arg2, arg3)), cancellationToken).ConfigureAwait(false), Name, Client);

    /// <summary>Runs the function on every tuple of arguments (Modal's <c>starmap</c>).</summary>
    public async IAsyncEnumerable<TResult> StarMapAsync(IEnumerable<(T1, T2, T3)> inputs, bool orderOutputs = true, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var outcome in StarMapOutcomesAsync(inputs, orderOutputs, cancellationToken).ConfigureAwait(false))
        {
            yield return outcome.GetValueOrThrow();
        }
    }

    /// <summary>Like <see cref="StarMapAsync"/>, but a failed input yields its exception instead of throwing.</summary>
    public IAsyncEnumerable<Outcome<TResult>> StarMapOutcomesAsync(IEnumerable<(T1, T2, T3)> inputs, bool orderOutputs = true, CancellationToken cancellationToken = default) =>
        Invocation.MapAsync<TResult>(Client, Name, Pool, PackEach(inputs, Pack), orderOutputs, CallKinds.Map, cancellationToken);

    internal override async Task<JsonElement> InvokeJsonAsync(JsonElement args, CancellationToken cancellationToken)
    {
        Arguments(args, 3, Name);
        return Payload.ToElement(await _fn(Payload.Read<T1>(args[0]), Payload.Read<T2>(args[1]), Payload.Read<T3>(args[2]), cancellationToken).ConfigureAwait(false));
    }

    private static JsonElement Pack((T1, T2, T3) args) => Payload.Pack(w =>
    {
        Payload.Write(w, args.Item1);
        Payload.Write(w, args.Item2);
        Payload.Write(w, args.Item3);
    });
}

/// <summary>A function a container can call with a whole batch of inputs at once.</summary>
internal interface IBatchable
{
    bool IsBatched { get; }

    Task<IReadOnlyList<JsonElement>> InvokeBatchAsync(IReadOnlyList<JsonElement> inputs);
}
