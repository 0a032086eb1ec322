using System.Linq.Expressions;
using System.Reflection;
using System.Runtime.CompilerServices;
using Ferry.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Ferry.Web;

/// <summary>
/// Web endpoints on an <see cref="App"/>: whole ASP.NET Core apps (Modal's <c>asgi_app</c>) and single minimal-API
/// handlers (Modal's <c>fastapi_endpoint</c>). Each runs on Kestrel inside its containers; the Ferry gateway forwards
/// requests to it and scales the containers with the requests in flight.
/// </summary>
public static class WebEndpoints
{
    /// <summary>
    /// Serves an ASP.NET Core app (Modal's <c>asgi_app</c>). In each container, <paramref name="configure"/> adds routes
    /// and middleware to a <see cref="WebApplication"/> built by Ferry, which listens where the gateway reaches it.
    /// </summary>
    /// <param name="app">The Ferry app.</param>
    /// <param name="configure">Maps routes and adds middleware, as a Program.cs would after <c>Build()</c>.</param>
    /// <param name="web">The label, auth and request timeout; see <see cref="WebEndpointOptions"/>.</param>
    /// <param name="options">How the containers run; <c>MaxInputs</c> is the number of concurrent requests per container. Default 1.</param>
    /// <param name="services">Adds services and configuration to the builder before it builds; optional.</param>
    /// <param name="name">The function's name; defaults to the method's name.</param>
    /// <param name="expression">Filled in by the compiler.</param>
    /// <returns>The registered function. Web functions are reached by URL, not with <c>RemoteAsync</c>.</returns>
    /// <exception cref="InvalidRequestException">The name, label or options are invalid, or the label is taken.</exception>
    public static Function AspNetApp(
        this App app,
        Action<WebApplication> configure,
        WebEndpointOptions? web = null,
        FunctionOptions? options = null,
        Action<WebApplicationBuilder>? services = null,
        string? name = null,
        [CallerArgumentExpression(nameof(configure))] string expression = "")
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(configure);
        return app.AddWeb(WebEndpointKinds.AspNet, configure,
            (listen, cancellationToken) => ContainerWebHost.StartAsync(listen, services, configure, cancellationToken),
            web, options, name, expression);
    }

    /// <summary>
    /// Serves one handler at <c>/</c> of its URL (Modal's <c>fastapi_endpoint</c>). Its parameters bind as in an ASP.NET
    /// Core minimal API: simple types from the query string, a complex type from the JSON body, services from DI,
    /// <see cref="HttpContext"/> and <see cref="CancellationToken"/> as such. A returned value is written as JSON; an
    /// <see cref="IResult"/> gives full control (status, headers, streaming).
    /// </summary>
    /// <param name="app">The Ferry app.</param>
    /// <param name="handler">The handler, a method group or a lambda.</param>
    /// <param name="web">The method, label, auth and request timeout; see <see cref="WebEndpointOptions"/>. Default: GET.</param>
    /// <param name="options">How the containers run; <c>MaxInputs</c> is the number of concurrent requests per container. Default 1.</param>
    /// <param name="name">The function's name; defaults to the method's name. A lambda needs one.</param>
    /// <param name="expression">Filled in by the compiler.</param>
    /// <returns>The registered function. Web functions are reached by URL, not with <c>RemoteAsync</c>.</returns>
    /// <exception cref="InvalidRequestException">The name, label, method or options are invalid, or the label is taken.</exception>
    public static Function WebEndpoint(
        this App app,
        Delegate handler,
        WebEndpointOptions? web = null,
        FunctionOptions? options = null,
        string? name = null,
        [CallerArgumentExpression(nameof(handler))] string expression = "")
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(handler);
        var method = (web ?? new WebEndpointOptions()).Method.ToUpperInvariant();
        return app.AddWeb(WebEndpointKinds.Function, handler,
            (listen, cancellationToken) => ContainerWebHost.StartAsync(listen, null, routes => routes.MapMethods("/", [method], handler), cancellationToken),
            web, options, name, expression);
    }

    /// <summary>
    /// Serves one method of a class at <c>/</c> of its URL, on an instance that lives as long as its container: the
    /// class's <see cref="EnterAttribute">[Enter]</see> hook runs once per container before it takes requests (load a
    /// model there), its <see cref="ExitAttribute">[Exit]</see> hook when the container stops, and every request in
    /// between calls the method on that instance (up to <c>MaxInputs</c> at once). Parameters bind as for
    /// <see cref="WebEndpoint(App, Delegate, WebEndpointOptions?, FunctionOptions?, string?, string)"/>.
    /// </summary>
    /// <typeparam name="T">The class. It needs a public parameterless constructor; its <see cref="ParameterAttribute">[Parameter]</see>s keep their defaults.</typeparam>
    /// <param name="app">The Ferry app.</param>
    /// <param name="method">Names the method: <c>m =&gt; m.Predict</c>.</param>
    /// <param name="web">The method, label, auth and request timeout. Default: GET, label <c>&lt;app&gt;-&lt;class&gt;-&lt;method&gt;</c>.</param>
    /// <param name="options">How the containers run; <c>MaxInputs</c> is the number of concurrent requests per container. Default 1.</param>
    /// <param name="name">The function's name. Default <c>Class.Method</c>.</param>
    /// <returns>The registered function. Web functions are reached by URL, not with <c>RemoteAsync</c>.</returns>
    /// <exception cref="InvalidRequestException">
    /// The selector does not name an instance method of <typeparamref name="T"/>, the class's hooks or parameters
    /// cannot work (a required parameter has no value to take), or the name, label or options are invalid.
    /// </exception>
    public static Function WebEndpoint<T>(
        this App app,
        Func<T, Delegate> method,
        WebEndpointOptions? web = null,
        FunctionOptions? options = null,
        string? name = null)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(method);
        return AddClassEndpoint(app, typeof(T), SelectedMethod(method), web, options, name);
    }

    /// <summary>
    /// Registers every method of <typeparamref name="T"/> marked <see cref="WebEndpointAttribute">[WebEndpoint]</see>,
    /// each as its own endpoint with its own containers: a static method as a plain function endpoint, an instance
    /// method on one instance per container as <see cref="WebEndpoint{T}(App, Func{T, Delegate}, WebEndpointOptions?, FunctionOptions?, string?)"/> does.
    /// </summary>
    /// <typeparam name="T">The class whose marked methods to serve.</typeparam>
    /// <param name="app">The Ferry app.</param>
    /// <param name="options">How each endpoint's containers run. Default: one request at a time per container.</param>
    /// <returns>The registered functions, in the order the class declares them.</returns>
    /// <exception cref="InvalidRequestException">
    /// The class has no marked method, a marked method is not public, or an endpoint's settings are invalid; the message names it.
    /// </exception>
    public static IReadOnlyList<Function> WebEndpointsOf<T>(this App app, FunctionOptions? options = null)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(app);
        var type = typeof(T);
        var marked = type.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
            .Where(m => m.GetCustomAttribute<WebEndpointAttribute>() is not null)
            .OrderBy(m => m.MetadataToken)
            .ToList();
        if (marked.Count == 0)
        {
            throw new InvalidRequestException($"Class '{type.Name}' has no method marked [WebEndpoint].");
        }
        var functions = new List<Function>();
        foreach (var method in marked)
        {
            var name = $"{type.Name}.{method.Name}";
            if (!method.IsPublic)
            {
                throw new InvalidRequestException($"The web endpoint '{name}' must be public.");
            }
            var web = method.GetCustomAttribute<WebEndpointAttribute>()!.ToOptions(name);
            functions.Add(method.IsStatic
                ? app.WebEndpoint(method.CreateDelegate(DelegateTypeOf(method, name)), web, options, name)
                : AddClassEndpoint(app, type, method, web, options, name));
        }
        return functions;
    }

    private static MethodInfo SelectedMethod<T>(Func<T, Delegate> selector)
        where T : class
    {
        var probe = (T)RuntimeHelpers.GetUninitializedObject(typeof(T));
        Delegate selected;
        try
        {
            selected = selector(probe);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidRequestException(
                $"The web endpoint's selector must only name a method of {typeof(T).Name}, as in m => m.Predict; it threw {e.GetType().Name}: {e.Message}");
        }
        if (selected is null || !ReferenceEquals(selected.Target, probe) || selected.Method.IsStatic)
        {
            throw new InvalidRequestException(
                $"The web endpoint's selector must name an instance method of {typeof(T).Name}, as in m => m.Predict, not build a new delegate.");
        }
        return selected.Method;
    }

    private static Function AddClassEndpoint(App app, Type type, MethodInfo method, WebEndpointOptions? web, FunctionOptions? options, string? name)
    {
        var functionName = name ?? $"{type.Name}.{method.Name}";
        var delegateType = DelegateTypeOf(method, functionName);
        var registration = new ClassRegistration(type, new FunctionOptions(), app.Image, requireMethods: false) { App = app };
        if (registration.DefaultParameters.ValueKind != System.Text.Json.JsonValueKind.Object)
        {
            throw new InvalidRequestException(
                $"Class '{type.Name}' has a required [Parameter], which a web endpoint has no caller to give: give every parameter a default to serve '{functionName}'.");
        }
        var verb = (web ?? new WebEndpointOptions()).Method.ToUpperInvariant();
        // The registered delegate describes the endpoint (its parameters); each container binds the method to its own instance.
        var described = method.CreateDelegate(delegateType, RuntimeHelpers.GetUninitializedObject(type));
        return app.AddWeb(WebEndpointKinds.Function, described, async (listen, cancellationToken) =>
        {
            object instance;
            try
            {
                instance = await registration.CreateLocalAsync(registration.DefaultParameters).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                throw new InvalidOperationException($"The [Enter] hook of '{type.Name}' failed, so '{functionName}' serves no requests: {e.Message}", e);
            }
            var handler = method.CreateDelegate(delegateType, instance);
            var server = await ContainerWebHost.StartAsync(listen, null, routes => routes.MapMethods("/", [verb], handler), cancellationToken).ConfigureAwait(false);
            return new InstanceServer(server, registration, instance);
        }, web, options, functionName, functionName);
    }

    /// <summary>A delegate type for the method's own signature (Func or Action where they fit), so minimal APIs see its parameters.</summary>
    private static Type DelegateTypeOf(MethodInfo method, string function)
    {
        var parameters = method.GetParameters();
        if (method.IsGenericMethodDefinition || parameters.Any(p => p.ParameterType.IsByRef || p.ParameterType.IsPointer))
        {
            throw new InvalidRequestException($"The web endpoint '{function}' cannot be generic or take ref, out or pointer parameters.");
        }
        return Expression.GetDelegateType([.. parameters.Select(p => p.ParameterType), method.ReturnType]);
    }

    /// <summary>Stops a class endpoint's server, then runs the instance's [Exit] hook, so no request sees a closed instance.</summary>
    private sealed class InstanceServer(IAsyncDisposable server, ClassRegistration registration, object instance) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await server.DisposeAsync().ConfigureAwait(false);
            if (registration.Exit is { } exit)
            {
                await ClassRegistration.InvokeAsync(exit, instance, []).ConfigureAwait(false);
            }
        }
    }
}
