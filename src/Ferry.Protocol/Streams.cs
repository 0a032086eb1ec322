using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ferry.Protocol;

/// <summary>A message on a container's stream to the control plane.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(ContainerReady), "ready")]
[JsonDerivedType(typeof(InputBatch), "inputs")]
[JsonDerivedType(typeof(ContainerOutputBatch), "outputs")]
[JsonDerivedType(typeof(CancelInputs), "cancel")]
[JsonDerivedType(typeof(StopContainer), "stop")]
[JsonDerivedType(typeof(Heartbeat), "heartbeat")]
[JsonDerivedType(typeof(StreamItems), "items")]
[JsonDerivedType(typeof(StreamCredit), "credit")]
[JsonDerivedType(typeof(ContainerStartFailed), "start-failed")]
public abstract record ContainerMessage;

/// <summary>The container has run its enter hooks and takes inputs.</summary>
public sealed record ContainerReady(int MaxInputs) : ContainerMessage;

[JsonConverter(typeof(ContainerInputConverter))]
public sealed record ContainerInput(long InputId, int Attempt, string Function, JsonElement? Args = null, string? ArgsBlob = null);

/// <summary>Inputs for a container to run.</summary>
public sealed record InputBatch(IReadOnlyList<ContainerInput> Inputs) : ContainerMessage;

[JsonConverter(typeof(ContainerOutputConverter))]
public sealed record ContainerOutput(long InputId, int Attempt, bool Success, JsonElement? Result = null, string? ResultBlob = null, RemoteError? Error = null);

/// <summary>
/// Results from a container. <c>RunSeconds</c> is how long the function ran for these outputs in all, by the
/// container's own clock: the control plane's clock would add the messages and the queue inside the container. It is
/// absent from containers that do not measure it.
/// </summary>
public sealed record ContainerOutputBatch(IReadOnlyList<ContainerOutput> Outputs, double? RunSeconds = null) : ContainerMessage;

public sealed record CancelInputs(IReadOnlyList<long> InputIds) : ContainerMessage;

/// <summary>Asks a container to run its exit hooks and stop.</summary>
public sealed record StopContainer(string Reason) : ContainerMessage;

public sealed record Heartbeat : ContainerMessage;

/// <summary>
/// Sent by a container whose start-up failed in the user's code (a class's enter hook threw), just before it exits:
/// the error, with the user's frames, is what the pool's waiting inputs fail with.
/// </summary>
public sealed record ContainerStartFailed(RemoteError Error) : ContainerMessage;

/// <summary>
/// Items a generator input yielded, in order, from the container. <see cref="End"/> follows the last item, whether the
/// generator returned or threw; the input's output comes after it. A container keeps at most
/// <see cref="ProtocolInfo.StreamWindowItems"/> items (and <see cref="ProtocolInfo.StreamWindowBytes"/> bytes) of an
/// input unacknowledged.
/// </summary>
public sealed record StreamItems(long InputId, int Attempt, IReadOnlyList<JsonElement> Items, bool End = false) : ContainerMessage;

/// <summary>To the container: the caller has acknowledged the first <see cref="Acknowledged"/> items of an input's stream.</summary>
public sealed record StreamCredit(long InputId, long Acknowledged) : ContainerMessage;

/// <summary>A message on a worker's stream to the control plane.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(WorkerHello), "hello")]
[JsonDerivedType(typeof(StartContainerCommand), "start")]
[JsonDerivedType(typeof(StopContainerCommand), "stop")]
[JsonDerivedType(typeof(ContainerStarted), "started")]
[JsonDerivedType(typeof(ContainerExited), "exited")]
[JsonDerivedType(typeof(ContainerLogs), "logs")]
[JsonDerivedType(typeof(ImageBuilt), "image")]
[JsonDerivedType(typeof(OpenSessionCommand), "session")]
public abstract record WorkerMessage;

public sealed record GpuDevice(int Index, string Type);

/// <summary>What a worker offers.</summary>
public sealed record WorkerResources(double Cpu, long MemoryMiB, IReadOnlyList<GpuDevice> Gpus, int MaxContainers);

public sealed record WorkerHello(string WorkerId, string Name, string Runtime, WorkerResources Resources, IReadOnlyList<string> RunningContainers) : WorkerMessage;

/// <summary>Asks a worker to start a container.</summary>
/// <remarks>
/// With <c>ForThroughput</c> the container is started to work off a backlog, not to answer a first call: the worker
/// starts it so that its throughput comes first, at some cost to its start and its per-call latency (tiered
/// compilation off).
/// </remarks>
public sealed record StartContainerCommand(
    string ContainerId,
    string Token,
    string AppId,
    string BuildId,
    string Function,
    string PoolId,
    FunctionSettings Settings,
    IReadOnlyList<int> GpuIndices,
    JsonElement? Parameters = null,
    ContainerInput? FirstInput = null,
    IReadOnlyDictionary<string, string>? SecretEnvironment = null,
    bool ForThroughput = false) : WorkerMessage;

public sealed record StopContainerCommand(string ContainerId, double GraceSeconds, string Reason) : WorkerMessage;

/// <summary>A container's process started.</summary>
/// <param name="ContainerId">The container.</param>
/// <param name="StartMs">How long starting it took on the worker.</param>
/// <param name="WebAddress">For a web function: <c>host:port</c> where the gateway reaches the container's server once it is ready.</param>
public sealed record ContainerStarted(string ContainerId, double StartMs, string? WebAddress = null) : WorkerMessage;

/// <summary>A container's process ended. <see cref="Reason"/> is one of <see cref="ErrorKinds"/> or "stopped".</summary>
public sealed record ContainerExited(string ContainerId, int ExitCode, string Reason, string? Detail = null) : WorkerMessage;

public sealed record ContainerLogLine(string ContainerId, string Stream, string Text, DateTimeOffset Time);

public sealed record ContainerLogs(IReadOnlyList<ContainerLogLine> Lines) : WorkerMessage;

/// <summary>A worker has an image ready: built now, or found in its cache.</summary>
/// <param name="ImageId">The id of the image's top layer.</param>
/// <param name="Layers">How many layers the image has above the base.</param>
/// <param name="BuiltLayers">How many of them this request built; 0 is a cache hit.</param>
/// <param name="Seconds">How long resolving the image took.</param>
/// <param name="Description">The steps, for people: one line per step.</param>
public sealed record ImageBuilt(string ImageId, int Layers, int BuiltLayers, double Seconds, IReadOnlyList<string> Description) : WorkerMessage;

/// <summary>
/// Asks a worker to run a command with its input and output relayed over a session socket, which the worker opens at
/// <c>/v1/workers/sessions/{SessionId}</c>: in a running container (<see cref="ContainerId"/>), or in a new container
/// with a function's image and mounts (<see cref="Container"/>).
/// </summary>
public sealed record OpenSessionCommand(string SessionId, IReadOnlyList<string> Command, string? ContainerId = null, StartContainerCommand? Container = null) : WorkerMessage;

/// <summary>
/// The first byte of each binary message on a session socket says what the rest is. Stdin, stdout and stderr carry
/// raw bytes; exit carries the command's exit code as ASCII digits.
/// </summary>
public static class SessionFrames
{
    public const byte Stdin = 0;
    public const byte Stdout = 1;
    public const byte Stderr = 2;
    public const byte Exit = 3;
    public const byte StdinClosed = 4;
}
