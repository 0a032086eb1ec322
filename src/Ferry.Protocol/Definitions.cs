using System.Text.Json;

namespace Ferry.Protocol;

/// <summary>What a user program declares: its app, functions and entrypoints.</summary>
public sealed record AppDefinition(
    string Name,
    IReadOnlyList<FunctionDefinition> Functions,
    IReadOnlyList<EntrypointDefinition> Entrypoints);

/// <summary>One remotely callable function or class method.</summary>
/// <param name="Name">The function's name, or <c>Class.Method</c> for a class method.</param>
/// <param name="Parameters">Positional parameters, in order.</param>
/// <param name="ReturnType">The C# name of the declared result type.</param>
/// <param name="Settings">How the function runs.</param>
/// <param name="ClassName">The class a method belongs to, or null for a plain function.</param>
/// <param name="Generator">
/// True when the result is <c>IAsyncEnumerable&lt;T&gt;</c>: its items stream to the caller, and it is called only with
/// <see cref="CallKinds.Stream"/> calls.
/// </param>
public sealed record FunctionDefinition(
    string Name,
    IReadOnlyList<ParameterDefinition> Parameters,
    string ReturnType,
    FunctionSettings Settings,
    string? ClassName = null,
    bool Generator = false);

/// <summary>A parameter of a function, entrypoint or class.</summary>
public sealed record ParameterDefinition(string Name, string Type, bool Required, JsonElement? Default = null);

/// <summary>A local entrypoint.</summary>
public sealed record EntrypointDefinition(string Name, IReadOnlyList<ParameterDefinition> Parameters);

/// <summary>How a function runs. Every field has the documented default of its SDK option.</summary>
public sealed record FunctionSettings
{
    public double TimeoutSeconds { get; init; } = 300;
    public RetryPolicy? Retries { get; init; }
    public int MinContainers { get; init; }
    public int? MaxContainers { get; init; }
    public int BufferContainers { get; init; }
    public double ScaledownWindowSeconds { get; init; } = 60;
    public double? Cpu { get; init; }
    public int? MemoryMiB { get; init; }
    public IReadOnlyList<string>? Gpu { get; init; }
    public ImageSpec? Image { get; init; }
    public int MaxInputs { get; init; } = 1;
    public int? TargetInputs { get; init; }
    public int? BatchMaxSize { get; init; }
    public int? BatchWaitMs { get; init; }
    public bool EnableMemorySnapshot { get; init; }
    public IReadOnlyList<SecretRef>? Secrets { get; init; }

    /// <summary>Volumes mounted in the function's containers, each at its own path.</summary>
    public IReadOnlyList<VolumeMount>? Volumes { get; init; }

    /// <summary>When the function runs on its own once its app is deployed; null for never.</summary>
    public ScheduleSpec? Schedule { get; init; }

    /// <summary>Set when the function serves HTTP through the gateway instead of taking inputs.</summary>
    public WebEndpointSpec? Web { get; init; }
}

/// <summary>How a web function is reached through the gateway.</summary>
/// <param name="Kind">One of <see cref="WebEndpointKinds"/>.</param>
/// <param name="Label">The name in the endpoint's URLs: <c>&lt;label&gt;.&lt;gateway host&gt;</c> and <c>&lt;gateway&gt;/&lt;label&gt;/</c>.</param>
/// <param name="Method">For <see cref="WebEndpointKinds.Function"/>: the HTTP method it answers.</param>
/// <param name="RequiresAuth">Requests need a proxy token.</param>
/// <param name="Port">For <see cref="WebEndpointKinds.Server"/>: the port the user's server listens on in its container.</param>
/// <param name="StartupTimeoutSeconds">For <see cref="WebEndpointKinds.Server"/>: how long the port may take to accept connections.</param>
/// <param name="RequestTimeoutSeconds">How long a request may go without progress before the gateway answers 504.</param>
public sealed record WebEndpointSpec(
    string Kind,
    string Label,
    string? Method = null,
    bool RequiresAuth = false,
    int? Port = null,
    double StartupTimeoutSeconds = 5,
    double RequestTimeoutSeconds = 150);

/// <summary>Values of <see cref="WebEndpointSpec.Kind"/>.</summary>
public static class WebEndpointKinds
{
    /// <summary>One handler bound like a minimal API (Modal's <c>fastapi_endpoint</c>).</summary>
    public const string Function = "function";

    /// <summary>A whole ASP.NET Core application (Modal's <c>asgi_app</c>).</summary>
    public const string AspNet = "aspnet";

    /// <summary>Any process listening on a port (Modal's <c>web_server</c>).</summary>
    public const string Server = "server";
}

/// <summary>Retries of a failed input: <c>delay(k) = min(InitialDelay * BackoffCoefficient^(k-1), MaxDelay)</c>.</summary>
public sealed record RetryPolicy(int MaxRetries, double BackoffCoefficient = 2.0, double InitialDelaySeconds = 1.0, double MaxDelaySeconds = 60.0)
{
    /// <summary>The delay before retry number <paramref name="retry"/> (1-based).</summary>
    public TimeSpan DelayFor(int retry)
    {
        var seconds = InitialDelaySeconds * Math.Pow(BackoffCoefficient, Math.Max(0, retry - 1));
        return TimeSpan.FromSeconds(Math.Min(seconds, MaxDelaySeconds));
    }
}

/// <summary>A container image as a chain of build steps over a base.</summary>
public sealed record ImageSpec(string Base, IReadOnlyList<ImageStep> Steps);

/// <summary>Values of <see cref="ImageSpec.Base"/>.</summary>
public static class ImageBases
{
    /// <summary>A minimal Debian bookworm (<c>debootstrap --variant=minbase</c>).</summary>
    public const string DebianSlim = "debian-bookworm-minbase";
}

/// <summary>One image build step.</summary>
/// <param name="Kind">One of <see cref="ImageStepKinds"/>.</param>
/// <param name="Args">The step's arguments; their meaning depends on <paramref name="Kind"/>.</param>
/// <param name="ForceBuild">Rebuild this step (and those after it) even when a cached layer exists.</param>
/// <param name="Files">For <see cref="ImageStepKinds.AddLocal"/>: the files, by path relative to the target and content hash.</param>
public sealed record ImageStep(string Kind, IReadOnlyList<string> Args, bool ForceBuild = false, IReadOnlyList<BuildFile>? Files = null);

/// <summary>Values of <see cref="ImageStep.Kind"/>.</summary>
public static class ImageStepKinds
{
    /// <summary>Args: Debian package names.</summary>
    public const string AptInstall = "apt_install";

    /// <summary>Args: shell commands, run in order in one layer.</summary>
    public const string RunCommands = "run_commands";

    /// <summary>Args: <c>NAME=value</c> pairs.</summary>
    public const string Env = "env";

    /// <summary>Args: one absolute path.</summary>
    public const string Workdir = "workdir";

    /// <summary>Args: the target path, <c>file</c> or <c>dir</c>, and <c>copy</c> or <c>mount</c>.</summary>
    public const string AddLocal = "add_local";

    /// <summary>Args: the build function's name and a hash of its code.</summary>
    public const string RunFunction = "run_function";
}
