using System.Text.Json;
using Ferry.Protocol;
using Ferry.Serialization;

namespace Ferry.Hosting;

/// <summary>Runs a user program in the mode that Ferry started it in.</summary>
internal static class ProgramHost
{
    public static async Task<int> RunAsync(App app, string[] args, CancellationToken cancellationToken)
    {
        switch (FerryContext.Mode)
        {
            case FerryModes.Describe:
                return await DescribeAsync(app).ConfigureAwait(false);
            case FerryModes.Local:
                return await RunLocalAsync(app, args, cancellationToken).ConfigureAwait(false);
            case FerryModes.Container:
                return await new ContainerRunner(app).RunAsync(cancellationToken).ConfigureAwait(false);
            case FerryModes.Publish:
                await app.Client.PublishDefinitionAsync(app.ToDefinition(), cancellationToken).ConfigureAwait(false);
                return ExitCodes.Success;
            case FerryModes.ImageBuild:
                return await RunBuildFunctionAsync().ConfigureAwait(false);
            default:
                await Console.Error.WriteLineAsync(
                    $"'{app.Name}' is a Ferry app. Run it with `ferry run <file.cs>`, which builds it and runs it in containers.").ConfigureAwait(false);
                return ExitCodes.Usage;
        }
    }

    private static async Task<int> DescribeAsync(App app)
    {
        var json = JsonSerializer.Serialize(app.ToDefinition(), ProtocolJsonContext.Default.AppDefinition);
        var path = Environment.GetEnvironmentVariable(FerryEnv.DescribeOutput);
        if (string.IsNullOrEmpty(path))
        {
            await Console.Out.WriteLineAsync(json).ConfigureAwait(false);
        }
        else
        {
            await File.WriteAllTextAsync(path, json).ConfigureAwait(false);
        }
        return ExitCodes.Success;
    }

    /// <summary>
    /// Readies what publishing the definition and the first call use (the HTTP stack and a connection to the server),
    /// while <c>ferry run</c> creates the app. Best effort: the real requests report what goes wrong.
    /// </summary>
    private static async Task WarmUpAsync()
    {
        try
        {
            if (FerryContext.Environment is { } client)
            {
                using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await client.WarmUpAsync(limit.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException or InvalidOperationException)
        {
            // Nothing is lost: the definition's publication makes the same request and reports what went wrong.
        }
    }

    private static async Task<int> RunLocalAsync(App app, string[] args, CancellationToken cancellationToken)
    {
        try
        {
            // The target and its arguments are checked before anything reaches the server: under `ferry run` the app
            // is created only once the program says it is ready, so a mistake here leaves nothing behind.
            var run = Resolve(app, Environment.GetEnvironmentVariable(FerryEnv.Entrypoint), args);
            if (run is null)
            {
                return ExitCodes.Failure;
            }
            if (Environment.GetEnvironmentVariable(FerryEnv.RunSocket) is { Length: > 0 } socket)
            {
                await RunHandshake.ReadyAsync(socket, WarmUpAsync, cancellationToken).ConfigureAwait(false);
            }
            await app.Client.PublishDefinitionAsync(app.ToDefinition(), cancellationToken).ConfigureAwait(false);
            var scheduled = app.Functions.Values.Where(f => f.Options.Schedule is not null).Select(f => f.Name).ToList();
            if (scheduled.Count > 0)
            {
                await Console.Error.WriteLineAsync(
                    $"Schedules ({string.Join(", ", scheduled)}) fire only after `ferry deploy`; this run does not start them.").ConfigureAwait(false);
            }
            if (app.Functions.Values.Any(f => f.Web is not null))
            {
                await Web.WebUrls.PrintAsync(app.Client, cancellationToken).ConfigureAwait(false);
            }
            return await run(cancellationToken).ConfigureAwait(false);
        }
        catch (UsageException e)
        {
            return Fail(e.Message, ExitCodes.Usage);
        }
        catch (RemoteException e)
        {
            await Console.Error.WriteLineAsync($"Error: {e.Message}{Environment.NewLine}Remote stack trace:{Environment.NewLine}{e.RemoteStackTrace}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (FerryException e)
        {
            return Fail(e.Message);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The user's own code threw: say so as a remote failure is said (type, message, the user's frames) rather
            // than with the runtime's crash report.
            await Console.Error.WriteLineAsync(DescribeLocalFailure(e)).ConfigureAwait(false);
            return ExitCodes.Failure;
        }
    }

    /// <summary>
    /// What <c>ferry run</c> runs for <paramref name="target"/> (an entrypoint or a function, or the app's only one),
    /// with <paramref name="args"/> already parsed; or null, having said why, when there is nothing to run.
    /// </summary>
    /// <exception cref="UsageException">The arguments do not fit the entrypoint's or function's parameters.</exception>
    internal static Func<CancellationToken, Task<int>>? Resolve(App app, string? target, string[] args)
    {
        var web = app.Functions.Values.Any(f => f.Web is not null);
        if (string.IsNullOrEmpty(target))
        {
            switch (app.Entrypoints.Count)
            {
                // An app of web endpoints alone serves them until interrupted, as `modal serve` does.
                case 0 when web:
                    return Web.WebUrls.ServeAsync;
                case 1:
                    return app.Entrypoints.Values.Single().Bind(args);
                case 0 when app.Functions.Count == 1:
                    return BindFunction(app.Functions.Values.Single(), args);
                case 0:
                    Fail($"'{app.Name}' has no local entrypoint. Add one with app.LocalEntrypoint(...), or name a function: ferry run <file>::<function>. Functions: {string.Join(", ", app.Functions.Keys)}.");
                    return null;
                default:
                    Fail($"'{app.Name}' has several local entrypoints; name one: ferry run <file>::<name>. Entrypoints: {string.Join(", ", app.Entrypoints.Keys)}.");
                    return null;
            }
        }
        if (app.Entrypoints.TryGetValue(target, out var entrypoint))
        {
            return entrypoint.Bind(args);
        }
        var function = app.Functions.Values.FirstOrDefault(f => string.Equals(f.Name, target, StringComparison.OrdinalIgnoreCase));
        if (function is not null)
        {
            return BindFunction(function, args);
        }
        Fail($"'{app.Name}' has no entrypoint or function named '{target}'. Entrypoints: {List(app.Entrypoints.Keys)}. Functions: {List(app.Functions.Keys)}.");
        return null;
    }

    /// <summary>An exception of the local entrypoint, its causes, and only the frames of the user's code.</summary>
    internal static string DescribeLocalFailure(Exception error)
    {
        var text = new System.Text.StringBuilder();
        for (var (current, depth) = (error, 0); current is not null && depth < 8; (current, depth) = (current.InnerException, depth + 1))
        {
            if (current is AggregateException { InnerExceptions.Count: 1 } aggregate && current.InnerException is not null && depth == 0)
            {
                current = aggregate.InnerException!;
            }
            text.Append(depth == 0 ? "Error: the local entrypoint raised " : "Caused by ")
                .Append(current.GetType().FullName).Append(": ").AppendLine(current.Message);
            if (ContainerRunner.UserFrames(current.StackTrace) is { Length: > 0 } frames)
            {
                text.AppendLine(frames);
            }
        }
        return text.ToString().TrimEnd();
    }

    /// <summary>Runs one <see cref="Image.RunFunction(Action, bool)"/> step; the build container keeps what it writes.</summary>
    private static async Task<int> RunBuildFunctionAsync()
    {
        var name = Environment.GetEnvironmentVariable(FerryEnv.Function) ?? "";
        if (Image.FindBuildFunction(name) is not { } function)
        {
            return Fail($"The program defines no image build function '{name}'. Was the image defined before app.RunAsync?");
        }
        try
        {
            await function.Run().ConfigureAwait(false);
            return ExitCodes.Success;
        }
        catch (Exception e)
        {
            await Console.Error.WriteLineAsync(
                $"The build function {function.DisplayName} raised {e.GetType().FullName}: {e.Message}{Environment.NewLine}{ContainerRunner.UserFrames(e.StackTrace)}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
    }

    private static string List(IEnumerable<string> names) => names.Any() ? string.Join(", ", names) : "none";

    private static Func<CancellationToken, Task<int>> BindFunction(Function function, string[] args)
    {
        var names = function.ToDefinition(null).Parameters;
        var parameters = function.ParameterTypes.Select((t, i) => new CliParameter(names[i].Name, t, false, null)).ToList();
        var values = CommandLine.Parse(function.Name, parameters, args);
        var packed = Payload.Pack(w =>
        {
            for (var i = 0; i < values.Length; i++)
            {
                JsonSerializer.Serialize(w, values[i], Payload.Options.GetTypeInfo(function.ParameterTypes[i]));
            }
        });
        return async cancellationToken =>
        {
            var result = await function.Client.RemoteAsync<JsonElement>(function.Name, null, packed, cancellationToken).ConfigureAwait(false);
            await Console.Out.WriteLineAsync(result.ValueKind == JsonValueKind.String ? result.GetString() : result.GetRawText()).ConfigureAwait(false);
            return ExitCodes.Success;
        };
    }

    private static int Fail(string message, int code = ExitCodes.Failure)
    {
        Console.Error.WriteLine($"Error: {message}");
        return code;
    }
}

/// <summary>Exit codes of a user program run by Ferry.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int Usage = 2;
    public const int Disconnected = 3;
}
