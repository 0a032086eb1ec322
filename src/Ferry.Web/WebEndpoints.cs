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
}
