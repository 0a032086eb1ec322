using Ferry.Client;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Ferry.Serialization;

namespace Ferry;

/// <summary>
/// A class whose <see cref="MethodAttribute">methods</see> run in containers that keep one instance alive across
/// calls: <see cref="EnterAttribute">enter</see> hooks run once per container, <see cref="ExitAttribute">exit</see>
/// hooks at shutdown. Each set of <see cref="ParameterAttribute">parameter</see> values, and each variant made with
/// <see cref="WithOptions"/> or <see cref="WithConcurrency"/>, has its own pool of containers and its own autoscaler.
/// </summary>
/// <typeparam name="T">The class. It needs a public parameterless constructor.</typeparam>
public sealed partial class Cls<T>
    where T : class
{
    private readonly ClassRegistration _registration;
    private readonly FunctionOptions? _overrides;
    private readonly JsonElement _parameters;

    internal Cls(ClassRegistration registration, FunctionOptions? overrides, JsonElement parameters)
    {
        _registration = registration;
        _overrides = overrides;
        _parameters = parameters;
    }

    /// <summary>The class's name, which prefixes its methods' names: <c>Class.Method</c>.</summary>
    public string Name => _registration.Name;

    /// <summary>The bound parameter values as the canonical JSON object that names this instance's pool.</summary>
    internal JsonElement BoundParameters => _parameters;

    /// <summary>
    /// An instance with these parameter values, given as an anonymous object (<c>model.With(new { Size = "large" })</c>)
    /// or any dictionary with string keys: <c>IDictionary&lt;string, string&gt;</c>, <c>IReadOnlyDictionary&lt;string, object?&gt;</c>
    /// and the like. A value of another type is converted to the parameter's: text to <c>int</c> or <c>bool</c>,
    /// base64 text to <c>byte[]</c>, a number or flag to text. Unknown names, values that do not convert, a missing
    /// required parameter and more than 16 KiB of values are rejected here, before anything is sent.
    /// </summary>
    /// <exception cref="InvalidRequestException">A name is unknown, a value does not convert, or a required parameter is missing; the message names it.</exception>
    public Cls<T> With(object parameters) => new(_registration, _overrides, _registration.BindParameters(parameters));

    /// <summary>A variant with other options (GPU, CPU, memory, timeout, retries, scaling). It runs in its own pool.</summary>
    public Cls<T> WithOptions(FunctionOptions options) => new(_registration, _overrides is null ? options : _overrides.Merge(options), _parameters);

    /// <summary>A variant whose containers run up to <paramref name="maxInputs"/> inputs at once, aiming for <paramref name="targetInputs"/>.</summary>
    public Cls<T> WithConcurrency(int maxInputs, int? targetInputs = null) =>
        WithOptions(new FunctionOptions { MaxInputs = maxInputs, TargetInputs = targetInputs });

    /// <summary>A variant whose batched method receives up to <paramref name="maxBatchSize"/> items, waiting at most <paramref name="wait"/>.</summary>
    public Cls<T> WithBatching(int maxBatchSize, TimeSpan wait) =>
        WithOptions(new FunctionOptions { BatchMaxSize = maxBatchSize, BatchWait = wait });

    /// <summary>
    /// A <see cref="BatchedAttribute">[Batched]</see> method as a per-item function handle:
    /// <c>model.BatchedMethod(m =&gt; m.Embed)</c>. Each call sends one item.
    /// </summary>
    public Function<TItem, TResult> BatchedMethod<TItem, TResult>(Func<T, Func<List<TItem>, List<TResult>>> method) =>
        Bind(new Function<TItem, TResult>(Resolve(method), _registration.Options, method, (a, ct) => LocalBatchAsync<TItem, TResult>(method, a, ct)));

    /// <inheritdoc cref="BatchedMethod{TItem, TResult}(Func{T, Func{List{TItem}, List{TResult}}})"/>
    public Function<TItem, TResult> BatchedMethod<TItem, TResult>(Func<T, Func<List<TItem>, Task<List<TResult>>>> method) =>
        Bind(new Function<TItem, TResult>(Resolve(method), _registration.Options, method, (a, ct) => LocalBatchAsync<TItem, TResult>(method, a, ct)));

    private async Task<TResult> LocalBatchAsync<TItem, TResult>(Delegate selector, TItem item, CancellationToken cancellationToken)
    {
        var results = await LocalAsync<List<TResult>>(selector, [new List<TItem> { item }], cancellationToken).ConfigureAwait(false);
        return results.Count == 1 ? results[0] : throw new InvalidRequestException($"The batched method returned {results.Count} results for 1 input.");
    }

    // Cls<T>.Method for 0 to 16 parameters and every result shape is generated while the SDK builds; see
    // src/Ferry.SdkGenerator.

    private TFunction Bind<TFunction>(TFunction function)
        where TFunction : Function
    {
        function.AppImage = _registration.AppImage;
        function.App = _registration.App;
        function.BoundClient = _registration.BoundClient;
        if (_parameters.ValueKind == JsonValueKind.Undefined)
        {
            // A required parameter was never given; this throws the message that names it.
            _registration.BindParameters(new Dictionary<string, object?>());
        }
        JsonElement? parameters = _registration.Parameters.Count == 0 ? null : _parameters;
        return (TFunction)function.Variant(_overrides, parameters);
    }

    /// <summary>The registered name of the method a selector such as <c>m =&gt; m.Predict</c> picks.</summary>
    private string Resolve(Delegate selector)
    {
        // The selector only reads a method group off the instance, so an uninitialized object is enough to learn which.
        var probe = (T)RuntimeHelpers.GetUninitializedObject(typeof(T));
        var picked = ((Delegate)selector.DynamicInvoke(probe)!).Method;
        return _registration.MethodName(picked);
    }

    private async Task<TResult> LocalAsync<TResult>(Delegate selector, object?[] args, CancellationToken cancellationToken)
    {
        var instance = await _registration.CreateLocalAsync(_parameters).ConfigureAwait(false);
        var method = ((Delegate)selector.DynamicInvoke(instance)!).Method;
        var result = await ClassRegistration.InvokeAsync(method, instance, ClassRegistration.TakesToken(method) ? [.. args, cancellationToken] : args).ConfigureAwait(false);
        return typeof(TResult) == typeof(None) ? default! : (TResult)result!;
    }
}

/// <summary>What the SDK knows about a registered class: its hooks, parameters and methods.</summary>
internal sealed class ClassRegistration
{
    private const int MaxParameterBytes = 16 * 1024;
    private static readonly Type[] ParameterTypes = [typeof(string), typeof(int), typeof(bool), typeof(byte[])];
    private readonly Dictionary<MethodInfo, string> _methods = [];

    /// <param name="type">The class.</param>
    /// <param name="options">Its options.</param>
    /// <param name="appImage">The app's image.</param>
    /// <param name="requireMethods">False for a class whose only remote members are web endpoints, which are not [Method]s.</param>
    public ClassRegistration(Type type, FunctionOptions options, Image? appImage, bool requireMethods = true)
    {
        Type = type;
        Name = type.Name;
        Options = options;
        AppImage = appImage;
        if (type.GetConstructor(Type.EmptyTypes) is null)
        {
            throw new InvalidRequestException($"Class '{Name}' needs a public parameterless constructor to be created in containers.");
        }
        var members = type.GetMethods(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly);
        Enter = [.. members.Where(m => m.GetCustomAttribute<EnterAttribute>() is not null).OrderByDescending(m => m.GetCustomAttribute<EnterAttribute>()!.Snap)];
        foreach (var group in Enter.GroupBy(m => m.GetCustomAttribute<EnterAttribute>()!.Snap).Where(g => g.Count() > 1))
        {
            throw new InvalidRequestException(
                $"Class '{Name}' has more than one [Enter{(group.Key ? "(Snap = true)" : "")}] hook: {string.Join(", ", group.Select(m => m.Name))}. Keep one and call the others from it.");
        }
        var exits = members.Where(m => m.GetCustomAttribute<ExitAttribute>() is not null).ToList();
        if (exits.Count > 1)
        {
            throw new InvalidRequestException($"Class '{Name}' has more than one [Exit] hook: {string.Join(", ", exits.Select(m => m.Name))}. Keep one.");
        }
        Exit = exits.SingleOrDefault();
        foreach (var hook in Enter.Concat(exits).Where(h => h.GetParameters().Length > 0))
        {
            throw new InvalidRequestException($"The hook '{Name}.{hook.Name}' must take no parameters.");
        }
        Parameters = [.. type.GetProperties(BindingFlags.Instance | BindingFlags.Public).Where(p => p.GetCustomAttribute<ParameterAttribute>() is not null)];
        foreach (var parameter in Parameters)
        {
            if (!ParameterTypes.Contains(parameter.PropertyType))
            {
                throw new InvalidRequestException(
                    $"The parameter '{Name}.{parameter.Name}' is a {Payload.TypeName(parameter.PropertyType)}; parameters may be string, int, bool or byte[].");
            }
            if (parameter.SetMethod is null)
            {
                throw new InvalidRequestException($"The parameter '{Name}.{parameter.Name}' needs a setter (set or init).");
            }
        }
        foreach (var method in members.Where(m => m.GetCustomAttribute<MethodAttribute>() is not null))
        {
            _methods[method] = $"{Name}.{method.Name}";
            if (method.GetCustomAttribute<BatchedAttribute>() is { } batched)
            {
                CheckBatched(method, batched);
                if (Batched is not null)
                {
                    throw new InvalidRequestException($"Class '{Name}' has more than one [Batched] method: {Batched.Name}, {method.Name}. A class batches one method.");
                }
                Batched = method;
                Options = Options.Merge(new FunctionOptions { BatchMaxSize = batched.MaxBatchSize, BatchWait = TimeSpan.FromMilliseconds(batched.WaitMs) });
            }
        }
        if (_methods.Count == 0 && requireMethods)
        {
            throw new InvalidRequestException($"Class '{Name}' has no [Method]; mark the methods callers may call.");
        }
        DefaultParameters = BindParameters(new Dictionary<string, object?>(), requireAll: false);
    }

    public Type Type { get; }

    public string Name { get; }

    public FunctionOptions Options { get; private set; }

    /// <summary>The method marked [Batched], if any.</summary>
    public MethodInfo? Batched { get; private set; }

    public Image? AppImage { get; }

    /// <summary>The app the class is registered on, whose client its methods' calls go through.</summary>
    public App? App { get; init; }

    /// <summary>For a class looked up by name, the client of the deployed app that has it; null otherwise.</summary>
    public FerryClient? BoundClient { get; init; }

    public IReadOnlyList<MethodInfo> Enter { get; }

    public MethodInfo? Exit { get; }

    public IReadOnlyList<PropertyInfo> Parameters { get; }

    public IReadOnlyDictionary<MethodInfo, string> Methods => _methods;

    /// <summary>The parameters of an instance made without <c>With</c>: every default, or null when one is required.</summary>
    public JsonElement DefaultParameters { get; }

    /// <summary>The instance this container serves, once its enter hooks have run.</summary>
    public object? Current { get; private set; }

    private void CheckBatched(MethodInfo method, BatchedAttribute batched)
    {
        var parameters = method.GetParameters();
        var returns = method.ReturnType.IsGenericType && method.ReturnType.GetGenericTypeDefinition() == typeof(Task<>)
            ? method.ReturnType.GetGenericArguments()[0]
            : method.ReturnType;
        static bool IsList(Type type) => type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>);
        if (parameters.Length != 1 || !IsList(parameters[0].ParameterType) || !IsList(returns))
        {
            throw new InvalidRequestException(
                $"The batched method '{Name}.{method.Name}' must take one List<TItem> and return List<TResult> (or Task<List<TResult>>).");
        }
        if (batched.MaxBatchSize is < 1 or > 1000 || batched.WaitMs is < 0 or > 600_000)
        {
            throw new InvalidRequestException($"The batched method '{Name}.{method.Name}' needs MaxBatchSize 1 to 1000 and WaitMs 0 to 600000.");
        }
    }

    public string MethodName(MethodInfo method) =>
        _methods.TryGetValue(method, out var name)
            ? name
            : throw new InvalidRequestException($"'{Name}.{method.Name}' is not marked [Method], so it cannot be called remotely.");

    /// <summary>Checks parameter values and turns them into the canonical JSON object that names the pool.</summary>
    public JsonElement BindParameters(object values, bool requireAll = true)
    {
        var given = Named(values);
        var defaults = Activator.CreateInstance(Type)!;
        var bound = new SortedDictionary<string, object?>(StringComparer.Ordinal);
        foreach (var name in given.Keys.Where(k => !Parameters.Any(p => p.Name == k)))
        {
            throw new InvalidRequestException($"Class '{Name}' has no parameter '{name}'. Its parameters: {string.Join(", ", Parameters.Select(p => p.Name))}.");
        }
        foreach (var parameter in Parameters)
        {
            if (given.TryGetValue(parameter.Name, out var value))
            {
                bound[parameter.Name] = ConvertParameter(parameter, value);
            }
            else if (parameter.GetCustomAttribute<RequiredMemberAttribute>() is not null || IsRequired(parameter))
            {
                if (requireAll)
                {
                    throw new InvalidRequestException($"The parameter '{Name}.{parameter.Name}' is required: pass it with .With(new {{ {parameter.Name} = ... }}).");
                }
                return default;
            }
            else
            {
                bound[parameter.Name] = parameter.GetValue(defaults);
            }
        }
        var json = JsonSerializer.SerializeToElement(bound, Payload.Options);
        if (json.GetRawText().Length > MaxParameterBytes)
        {
            throw new InvalidRequestException($"The parameters of '{Name}' take {json.GetRawText().Length} bytes; the limit is 16 KiB.");
        }
        return json;
    }

    /// <summary>
    /// The name-value pairs of a dictionary with string keys (any value type, generic or not, read-only or not) or of an
    /// object's properties (an anonymous object's, say), indexers excluded.
    /// </summary>
    private Dictionary<string, object?> Named(object values)
    {
        ArgumentNullException.ThrowIfNull(values);
        switch (values)
        {
            case IReadOnlyDictionary<string, object?> named:
                return named.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
            case IDictionary<string, object?> named:
                return named.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        }
        var pairType = values.GetType().GetInterfaces()
            .Where(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))
            .Select(i => i.GetGenericArguments()[0])
            .FirstOrDefault(t => t.IsGenericType && t.GetGenericTypeDefinition() == typeof(KeyValuePair<,>));
        if (pairType is not null)
        {
            if (pairType.GetGenericArguments()[0] != typeof(string))
            {
                throw new InvalidRequestException($"Class '{Name}' takes parameters by name: the dictionary's keys must be strings, not {Payload.TypeName(pairType.GetGenericArguments()[0])}.");
            }
            var key = pairType.GetProperty("Key")!;
            var value = pairType.GetProperty("Value")!;
            var pairs = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var pair in (System.Collections.IEnumerable)values)
            {
                pairs[(string)key.GetValue(pair)!] = value.GetValue(pair);
            }
            return pairs;
        }
        if (values is System.Collections.IDictionary dictionary)
        {
            return dictionary.Keys.Cast<object>().ToDictionary(k => k as string
                ?? throw new InvalidRequestException($"Class '{Name}' takes parameters by name: the dictionary's keys must be strings."), k => dictionary[k], StringComparer.Ordinal);
        }
        return values.GetType().GetProperties().Where(p => p.GetIndexParameters().Length == 0).ToDictionary(p => p.Name, p => p.GetValue(values), StringComparer.Ordinal);
    }

    /// <summary>
    /// A value given for a parameter, as the parameter's type: the value itself when it has the type, else converted
    /// (text to a number or a flag, a number to text, base64 text to bytes), or an error that names the parameter.
    /// </summary>
    private object ConvertParameter(PropertyInfo parameter, object? value)
    {
        var type = parameter.PropertyType;
        if (value is not null && type.IsInstanceOfType(value))
        {
            return value;
        }
        string Problem(string why) =>
            $"The parameter '{Name}.{parameter.Name}' takes a {Payload.TypeName(type)}; {(value is null ? "null" : $"the {Payload.TypeName(value.GetType())} '{value}'")} {why}.";
        if (value is null)
        {
            throw new InvalidRequestException(Problem("is not one"));
        }
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        try
        {
            if (type == typeof(string) && value is IConvertible and not bool)
            {
                return System.Convert.ToString(value, invariant)!;
            }
            if (type == typeof(string) && value is bool flag)
            {
                return flag ? "true" : "false";
            }
            if (type == typeof(int) && value is string number)
            {
                return int.Parse(number.Trim(), System.Globalization.NumberStyles.Integer, invariant);
            }
            if (type == typeof(int) && value is byte or sbyte or short or ushort or uint or long or ulong)
            {
                return System.Convert.ToInt32(value, invariant);
            }
            if (type == typeof(bool) && value is string text)
            {
                return bool.TryParse(text.Trim(), out var parsed) ? parsed : throw new FormatException("not true or false");
            }
            if (type == typeof(byte[]) && value is string base64)
            {
                return System.Convert.FromBase64String(base64);
            }
            if (type == typeof(byte[]) && value is IEnumerable<byte> bytes)
            {
                return bytes.ToArray();
            }
        }
        catch (FormatException)
        {
            throw new InvalidRequestException(Problem(type == typeof(byte[]) ? "is not base64" : "does not parse as one"));
        }
        catch (OverflowException)
        {
            throw new InvalidRequestException(Problem("is out of its range"));
        }
        throw new InvalidRequestException(Problem("does not convert to one"));
    }

    private static bool IsRequired(PropertyInfo property) =>
        property.DeclaringType?.GetCustomAttributes().Any(a => a.GetType().Name == "RequiredMemberAttribute") == true
        && property.GetCustomAttributes().Any(a => a.GetType().Name == "RequiredMemberAttribute");

    /// <summary>Creates the container's instance, sets its parameters and runs its enter hooks, snapshot ones first.</summary>
    public async Task CreateCurrentAsync(JsonElement? parameters) => Current = await CreateLocalAsync(parameters).ConfigureAwait(false);

    public async Task<object> CreateLocalAsync(JsonElement? parameters)
    {
        var instance = Activator.CreateInstance(Type)!;
        if (parameters is { ValueKind: JsonValueKind.Object } values)
        {
            foreach (var parameter in Parameters)
            {
                if (values.TryGetProperty(parameter.Name, out var value))
                {
                    parameter.SetValue(instance, value.Deserialize(parameter.PropertyType, Payload.Options));
                }
            }
        }
        foreach (var hook in Enter)
        {
            await InvokeAsync(hook, instance, []).ConfigureAwait(false);
        }
        return instance;
    }

    /// <summary>Runs the exit hook of the container's instance, if it has one.</summary>
    public async Task ExitCurrentAsync()
    {
        if (Current is { } instance && Exit is { } exit)
        {
            await InvokeAsync(exit, instance, []).ConfigureAwait(false);
        }
    }

    /// <summary>True for a method whose last parameter is a <see cref="CancellationToken"/>, which the runtime supplies.</summary>
    public static bool TakesToken(MethodInfo method) =>
        method.GetParameters() is [.., var last] && last.ParameterType == typeof(CancellationToken);

    /// <summary>Calls a method and awaits it if it returns a task, unwrapping reflection's wrapper exception.</summary>
    public static async Task<object?> InvokeAsync(MethodInfo method, object instance, object?[] args)
    {
        object? returned;
        try
        {
            returned = method.Invoke(instance, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is { } inner)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(inner);
            throw;
        }
        switch (returned)
        {
            case Task task:
                await task.ConfigureAwait(false);
                var resultProperty = task.GetType().GetProperty("Result");
                return resultProperty is not null && task.GetType().IsGenericType ? resultProperty.GetValue(task) : null;
            case ValueTask valueTask:
                await valueTask.ConfigureAwait(false);
                return null;
            case not null when returned.GetType() is { IsGenericType: true } type && type.GetGenericTypeDefinition() == typeof(ValueTask<>):
                // A boxed ValueTask<T> matches no pattern above; as a Task it awaits like one.
                var asTask = (Task)type.GetMethod(nameof(ValueTask<int>.AsTask))!.Invoke(returned, null)!;
                await asTask.ConfigureAwait(false);
                return asTask.GetType().GetProperty("Result")!.GetValue(asTask);
            default:
                return returned;
        }
    }
}

/// <summary>A class method as the container runs it: arguments by reflection, on the container's instance.</summary>
internal sealed class ClassMethod : Function, IBatchable
{
    private readonly ClassRegistration _registration;
    private readonly MethodInfo _method;
    private readonly bool _takesToken;
    private readonly Type[] _parameterTypes;

    public ClassMethod(ClassRegistration registration, MethodInfo method, string name)
        : base(name, registration.Options, method.CreateDelegate(
            System.Linq.Expressions.Expression.GetDelegateType([.. method.GetParameters().Select(p => p.ParameterType), method.ReturnType]),
            RuntimeHelpers.GetUninitializedObject(registration.Type)))
    {
        _registration = registration;
        _method = method;
        _takesToken = ClassRegistration.TakesToken(method);
        var parameters = method.GetParameters();
        _parameterTypes = [.. parameters.Take(parameters.Length - (_takesToken ? 1 : 0)).Select(p => p.ParameterType)];
        ClassName = registration.Name;
    }

    /// <summary>The parameters callers send: all but a trailing <see cref="CancellationToken"/>.</summary>
    internal override Type[] ParameterTypes => _parameterTypes;

    internal override Type ResultType =>
        _method.ReturnType == typeof(Task) || _method.ReturnType == typeof(ValueTask) || _method.ReturnType == typeof(void)
            ? typeof(None)
            : _method.ReturnType.IsGenericType && _method.ReturnType.GetGenericTypeDefinition() is { } d && (d == typeof(Task<>) || d == typeof(ValueTask<>))
                ? _method.ReturnType.GetGenericArguments()[0]
                : _method.ReturnType;

    /// <summary>True for the class's [Batched] method, which the container calls with a list of items.</summary>
    public bool IsBatched => _registration.Batched == _method;

    /// <summary>Calls the batched method once with every item; each input's result, or an error that fails them all.</summary>
    public async Task<IReadOnlyList<JsonElement>> InvokeBatchAsync(IReadOnlyList<JsonElement> inputs)
    {
        var listType = _method.GetParameters()[0].ParameterType;
        var itemType = listType.GetGenericArguments()[0];
        var items = (System.Collections.IList)Activator.CreateInstance(listType)!;
        foreach (var args in inputs)
        {
            items.Add(Payload.Read(Arguments(args, 1, Name)[0], itemType));
        }
        var instance = _registration.Current ?? throw new InvalidOperationException($"This container serves no instance of '{_registration.Name}'.");
        var result = await ClassRegistration.InvokeAsync(_method, instance, [items]).ConfigureAwait(false) as System.Collections.IList;
        if (result is null || result.Count != inputs.Count)
        {
            throw new InvalidOperationException(
                $"The batched method '{Name}' returned {(result is null ? "null" : result.Count + " results")} for {inputs.Count} inputs; it must return one result per input, in order.");
        }
        var resultType = ResultType.GetGenericArguments()[0];
        return [.. result.Cast<object?>().Select(r => Payload.ToElement(r, resultType))];
    }

    internal override async Task<object?> InvokeAsync(JsonElement args, CancellationToken cancellationToken)
    {
        var types = ParameterTypes;
        Arguments(args, types.Length, Name);
        var values = new object?[types.Length + (_takesToken ? 1 : 0)];
        for (var i = 0; i < types.Length; i++)
        {
            values[i] = Payload.Read(args[i], types[i]);
        }
        if (_takesToken)
        {
            values[^1] = cancellationToken;
        }
        var instance = _registration.Current ?? throw new InvalidOperationException($"This container serves no instance of '{_registration.Name}'.");
        var result = await ClassRegistration.InvokeAsync(_method, instance, values).ConfigureAwait(false);
        return ResultType == typeof(None) ? default(None) : result;
    }
}
