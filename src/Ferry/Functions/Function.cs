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
public abstract partial class Function
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

    /// <summary>How the gateway reaches a web function; null for a function called with inputs.</summary>
    internal WebEndpointSpec? Web { get; init; }

    /// <summary>The app's default image, for option overrides of variants.</summary>
    internal Image? AppImage { get; set; }

    /// <summary>The app the function is registered on, or null for a handle made outside one.</summary>
    internal App? App { get; set; }

    /// <summary>For a handle looked up by name, the client of the deployed app it names; null otherwise.</summary>
    internal FerryClient? BoundClient { get; set; }

    /// <summary>The client every call of this handle goes through: its deployed app's, for a lookup, else its app's.</summary>
    internal FerryClient Client => BoundClient ?? App?.Client ?? FerryContext.Client;

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
    /// Runs one input in this process: deserializes the arguments and calls the function with
    /// <paramref name="cancellationToken"/> if it takes one. The result is not serialized: a generator's is a sequence.
    /// </summary>
    internal abstract Task<object?> InvokeAsync(JsonElement args, CancellationToken cancellationToken);

    /// <summary>Runs one input in this process, as <see cref="InvokeAsync"/> does, and serializes the result.</summary>
    internal async Task<JsonElement> InvokeJsonAsync(JsonElement args, CancellationToken cancellationToken) =>
        Payload.ToElement(await InvokeAsync(args, cancellationToken).ConfigureAwait(false), ResultType);

    /// <summary>True when the result is <see cref="IAsyncEnumerable{T}"/>: the items stream to the caller as they come.</summary>
    internal bool IsGenerator => ItemSequences.ItemType(ResultType) is not null;

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
            Options.ToSettings(appImage) with { Web = Web },
            ClassName,
            IsGenerator);
    }

    internal static JsonElement Arguments(JsonElement args, int count, string function)
    {
        if (args.ValueKind != JsonValueKind.Array || args.GetArrayLength() != count)
        {
            throw new InvalidRequestException($"{function} takes {count} argument(s); the input had {(args.ValueKind == JsonValueKind.Array ? args.GetArrayLength() : 0)}.");
        }
        return args;
    }

    /// <summary>Waits for every outcome; throws the first failure unless told to ignore failures.</summary>
    private protected static async Task DrainAsync<TResult>(IAsyncEnumerable<Outcome<TResult>> outcomes, bool ignoreExceptions)
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

    private protected static IEnumerable<JsonElement> PackEach<T>(IEnumerable<T> items, Func<T, JsonElement> pack)
    {
        foreach (var item in items)
        {
            yield return pack(item);
        }
    }
}

// The typed handles Function<TResult> to Function<T1, ..., T16, TResult> are generated while the SDK builds (see
// src/Ferry.SdkGenerator): one template instead of seventeen hand-kept copies.

// What a function of one argument adds to its generated part: the list-in, list-out body of App.BatchedFunction.
public sealed partial class Function<T1, TResult> : IBatchable
{
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
}

/// <summary>A function a container can call with a whole batch of inputs at once.</summary>
internal interface IBatchable
{
    bool IsBatched { get; }

    Task<IReadOnlyList<JsonElement>> InvokeBatchAsync(IReadOnlyList<JsonElement> inputs);
}
