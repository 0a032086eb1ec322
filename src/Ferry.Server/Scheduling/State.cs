using System.Text.Json;
using Ferry.Protocol;
using Ferry.Server.Storage;
using Ferry.Server.Workers;

namespace Ferry.Server.Scheduling;

internal enum InputStatus
{
    Queued,
    Delayed,
    Running,
    Done,
}

internal sealed class InputState(long id, CallState call, int index, JsonElement? args, string? argsBlob)
{
    public long Id { get; } = id;
    public CallState Call { get; } = call;
    public int Index { get; } = index;
    public JsonElement? Args { get; set; } = args;
    public string? ArgsBlob { get; } = argsBlob;
    public int Attempt { get; set; }
    public int RetriesUsed { get; set; }
    public int InternalFailures { get; set; }
    public InputStatus Status { get; set; }
    public ContainerState? Container { get; set; }
    public DateTimeOffset StartedAt { get; set; }
    public long DispatchSeq { get; set; }
    public DateTimeOffset DueAt { get; set; }
}

internal sealed class CallState(CallRecord record, PoolState pool)
{
    public CallRecord Record { get; } = record;
    public string CallId => Record.CallId;
    public PoolState Pool { get; } = pool;
    public IndexSet Indices { get; } = new();
    public bool Final { get; set; } = record.Final;
    /// <summary>
    /// The call's latest outputs, in the order they were published; those before them (<see cref="OutputsBefore"/>)
    /// left memory and are read from the store (<see cref="CallTable.TrimOutputs"/>).
    /// </summary>
    public List<OutputItem> Outputs { get; } = [];
    /// <summary>Published outputs no longer in <see cref="Outputs"/>: the first cursor there is this plus one.</summary>
    public long OutputsBefore { get; set; }
    /// <summary>How many of the outputs before <see cref="Outputs"/> are failures.</summary>
    public long FailedBefore { get; set; }
    /// <summary>Every output published so far, in memory or not; the next one's cursor is this plus one.</summary>
    public long Published => OutputsBefore + Outputs.Count;
    public Dictionary<int, InputState> Open { get; } = [];
    /// <summary>Completed outside the scheduler's lock only (see <see cref="OutputPublisher.TakeSignal"/>).</summary>
    public TaskCompletionSource Changed { get; set; } = new();
    /// <summary>The error every input of the call ends with once it is cancelled; null while it is not.</summary>
    public RemoteError? Cancellation { get; set; }
    public bool Cancelled => Cancellation is not null;
    public bool IsDone => Final && Published == Indices.Count;

    /// <summary>When the call's last output was published; it leaves memory a grace period later, or once read whole.</summary>
    public DateTimeOffset? DoneAt { get; set; }
    public Task LastWrite { get; set; } = Task.CompletedTask;
    /// <summary>Its output is published and its write not yet committed (<see cref="OutputPublisher.Complete"/>).</summary>
    public bool Unsaved { get; set; }
    /// <summary>It was evicted while <see cref="Unsaved"/>: it leaves memory once its write commits.</summary>
    public bool EvictWhenSaved { get; set; }
}

internal enum ContainerStatus
{
    Starting,
    Ready,
    Stopping,
}

internal sealed class ContainerState(string id, string token, PoolState pool, WorkerState worker, Reservation reservation, DateTimeOffset now)
{
    public string Id { get; } = id;
    public string Token { get; } = token;
    public PoolState Pool { get; } = pool;
    public WorkerState Worker { get; } = worker;
    public Reservation Reservation { get; } = reservation;
    public DateTimeOffset CreatedAt { get; } = now;
    public ContainerStatus Status { get; set; } = ContainerStatus.Starting;
    public IPeer<ContainerMessage>? Peer { get; set; }
    public int MaxInputs { get; set; } = 1;

    /// <summary>
    /// The inputs given to the container that it has not reported: running, queued in it, or of a cancelled call and
    /// not yet acknowledged. Each holds a slot.
    /// </summary>
    public Dictionary<long, InputState> Running { get; } = [];

    /// <summary>The input handed over with the start command, if any.</summary>
    public long? FirstInputId { get; set; }
    public DateTimeOffset IdleSince { get; set; } = now;
    /// <summary>
    /// Inputs a container may hold at <paramref name="now"/>: its concurrency plus a local queue that hides the round
    /// trip per input. The queue holds about <see cref="QueuedWork"/> of work at the pace the container's inputs have
    /// been finishing, between 5 and 64 inputs per slot: a trivial function gets batches large enough that messages and
    /// their handling no longer bound it, and a slow one keeps a short queue, so that the last inputs of a map are not
    /// left waiting behind a busy container while others idle. A container running an input for longer than that falls
    /// back to the short queue, so that inputs which wait on each other are not stacked behind one that blocks.
    /// </summary>
    public int CapacityAt(DateTimeOffset now)
    {
        if (AverageRunMs is not { } average || OldestStart is { } oldest && now - oldest > QueuedWork)
        {
            return MaxInputs * MinQueuedPerSlot;
        }
        var perSlot = (int)Math.Clamp(QueuedWork.TotalMilliseconds / Math.Max(average, 0.001), MinQueuedPerSlot, MaxQueuedPerSlot);
        return MaxInputs * perSlot;
    }

    private const int MinQueuedPerSlot = 5;
    private const int MaxQueuedPerSlot = 64;

    /// <summary>The work a container's local queue holds, at most, beyond its running inputs.</summary>
    public static readonly TimeSpan QueuedWork = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// A moving average of how long the container took per input, from the input's start (or the previous output,
    /// when inputs were queued in it) to its output, in milliseconds; null before its first output.
    /// </summary>
    public double? AverageRunMs { get; private set; }

    /// <summary>Adds one input's time from start to output to <see cref="AverageRunMs"/>.</summary>
    public void RecordRun(TimeSpan elapsed)
    {
        var ms = Math.Max(0, elapsed.TotalMilliseconds);
        AverageRunMs = AverageRunMs is { } average ? average + (ms - average) / 16 : ms;
    }

    private DateTimeOffset? OldestStart
    {
        get
        {
            DateTimeOffset? oldest = null;
            foreach (var input in Running.Values)
            {
                if (input.StartedAt != DateTimeOffset.MaxValue && (oldest is null || input.StartedAt < oldest))
                {
                    oldest = input.StartedAt;
                }
            }
            return oldest;
        }
    }
    /// <summary>Inputs running here, not merely queued; counted by a plain loop, as the dispatcher asks once per input.</summary>
    public int StartedCount
    {
        get
        {
            var started = 0;
            foreach (var input in Running.Values)
            {
                if (input.StartedAt != DateTimeOffset.MaxValue)
                {
                    started++;
                }
            }
            return started;
        }
    }
    public double ProcessStartMs { get; set; }
    public bool Evicted { get; set; }

    /// <summary>Why the container could not start, as it reported before exiting (a class's enter hook threw).</summary>
    public RemoteError? StartError { get; set; }
    public DateTimeOffset ReadyAt { get; set; }

    /// <summary>For a web function: <c>host:port</c> where the gateway reaches the container's server.</summary>
    public string? WebAddress
    {
        get;
        set
        {
            field = value;
            WebDestination = value is null ? null : "http://" + value;
        }
    }

    /// <summary>The gateway's destination prefix for <see cref="WebAddress"/>, built once rather than per request.</summary>
    public string? WebDestination { get; private set; }

    /// <summary>Requests the gateway is forwarding to this container now; each holds one of its MaxInputs slots.</summary>
    public int WebInFlight { get; set; }

    /// <summary>Whether the container holds no work: no inputs and no requests.</summary>
    public bool IsIdle => Running.Count == 0 && WebInFlight == 0;
}

/// <summary>
/// The containers and queue of one function variant. Each distinct set of class parameters and options is its own
/// pool with its own autoscaler.
/// </summary>
internal sealed class PoolState(string poolId, AppState app, FunctionDefinition function, FunctionSettings settings, JsonElement? parameters)
{
    public string PoolId { get; } = poolId;
    public AppState App { get; } = app;
    public FunctionDefinition Function { get; } = function;
    public FunctionSettings Settings { get; set; } = settings;
    public JsonElement? Parameters { get; } = parameters;
    public LinkedList<InputState> Ready { get; } = new();

    /// <summary>Queued inputs beyond the window held in <see cref="Ready"/>, which wait in the store.</summary>
    public StoredBacklog Stored { get; } = new();

    /// <summary>Inputs waiting for a container: those queued in memory and those waiting in the store.</summary>
    public int Queued => Ready.Count + (int)Math.Min(Stored.Count, int.MaxValue - Ready.Count);
    public List<InputState> Delayed { get; } = [];
    public Dictionary<string, ContainerState> Containers { get; } = [];
    public bool WaitingForResources { get; set; }

    /// <summary>The reason no worker can take this pool's inputs, once it has been told to the app's log.</summary>
    public string? WaitReasonLogged { get; set; }
    public int RunningInputs => Containers.Values.Sum(c => c.Running.Count);
    public int LiveContainers => Containers.Values.Count(c => c.Status != ContainerStatus.Stopping);
    public DateTimeOffset LastActive { get; set; }
    public int PeakContainers { get; set; }
    public int StartupFailures { get; set; }

    /// <summary>Requests at the gateway waiting for a container of this pool with a free slot.</summary>
    public int WebWaiting { get; set; }

    /// <summary>Requests being forwarded to this pool's containers.</summary>
    public int WebInFlight => Containers.Values.Sum(c => c.WebInFlight);

    /// <summary>How many times the pool gave up starting containers, and why last: requests waiting then fail at once.</summary>
    public (int Count, string? Message) StartFailed { get; set; }

    /// <summary>Why the pool's last container exited, for the gateway's answer when none becomes ready.</summary>
    public string? LastExit { get; set; }

    /// <summary>A moving average of how long this pool's containers took from being started to ready; null before the first.</summary>
    public TimeSpan? ColdStart { get; set; }

    /// <summary>A moving average of how long one input of this pool ran in a container; null before the first ended.</summary>
    public TimeSpan? ServiceTime { get; set; }

    /// <summary>
    /// A moving average of how long this pool's function ran per input, by its containers' own clocks: unlike
    /// <see cref="ServiceTime"/>, without the messages and the queue inside the container. Null before the first.
    /// </summary>
    public TimeSpan? RunTime { get; set; }

    /// <summary>
    /// Since when the autoscaler has been starting fewer containers than the load asks for, because the ready ones are
    /// expected to finish the work before a new one could be ready; null while it is not.
    /// </summary>
    public DateTimeOffset? WithheldSince { get; set; }

    /// <summary>
    /// The most containers the autoscaler last allowed this pool's load, one per worker core, while its inputs run on
    /// cores (<see cref="PoolScaler.RunsOnCores"/>); null while they do not. The dispatcher feeds only that many, so
    /// containers started before the cap applied go idle and scale down.
    /// </summary>
    public int? CoreCap { get; set; }
}

internal sealed class AppState(AppRecord record)
{
    public AppRecord Record { get; set; } = record;
    public string AppId => Record.AppId;
    public Dictionary<string, PoolState> Pools { get; } = new(StringComparer.Ordinal);
    public bool Stopped => Record.State == AppStates.Stopped;

    /// <summary>Set when this replica lost the app's lease: nothing of it is dispatched or started here any more.</summary>
    public bool Released { get; set; }

    /// <summary>The lease this replica holds on the app, which its writes about the app carry; null on a single server.</summary>
    public Storage.LeaseFence? Fence { get; init; }
}
