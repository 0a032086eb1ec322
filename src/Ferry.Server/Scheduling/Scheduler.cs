using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Ferry.Protocol;
using Ferry.Server.Logs;
using Ferry.Server.Storage;
using Ferry.Server.Workers;
using Microsoft.Extensions.Logging;

namespace Ferry.Server.Scheduling;

/// <summary>Tunables of the scheduler that are not per-function settings.</summary>
public sealed record SchedulerOptions
{
    /// <summary>How often the autoscaler, timeouts and delayed retries are evaluated.</summary>
    public TimeSpan TickInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How long a container may take from start to ready before it is counted as crashed.</summary>
    public TimeSpan StartupTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Immediate re-runs of an input whose container crashed, on top of the function's own retries.</summary>
    public int CrashRetryBudget { get; init; } = 2;

    /// <summary>Re-runs of an input lost to a platform fault (a worker or the server going away).</summary>
    public int PlatformRetryBudget { get; init; } = 8;

    /// <summary>How long a stopping container gets to run its exit hooks.</summary>
    public TimeSpan StopGrace { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Containers of one pool that may fail before becoming ready, in a row, before its queued inputs fail.</summary>
    public int StartupFailureLimit { get; init; } = 3;

    /// <summary>
    /// How long a finished call's outputs stay in memory when nobody reads them to the end (a spawn that is never
    /// awaited, say). A call read to its end leaves memory at once; either way it is then read from the store.
    /// </summary>
    public TimeSpan FinishedCallGrace { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long the ids of calls that left memory are remembered, so that a client retrying the request that created
    /// one (it retries for up to 90 s) is answered idempotently instead of running its inputs again.
    /// </summary>
    public TimeSpan EvictedCallMemory { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How many queued inputs of one pool are held in memory, at most; inputs accepted beyond them wait in the store and
    /// are read back, in order, as the pool's queue drains below half of this. Default 10,000.
    /// </summary>
    public int BacklogWindow { get; init; } = 10_000;

    /// <summary>
    /// How many of one call's outputs are held in memory, about; older ones are read from the store, where every output
    /// is committed before it is published. Default 10,000.
    /// </summary>
    public int OutputWindow { get; init; } = 10_000;

    /// <summary>
    /// Whether a map's containers start for throughput (<see cref="PoolScaler.StartsForThroughput"/>): the worker starts
    /// them as new processes with the runtime's tiered compilation off, unless the function's secrets set it. Such a
    /// container compiles its code once, fully optimised, instead of running unoptimised code and then compiling its hot
    /// methods again while the map waits; it starts slower than one from a placeholder, and its calls stay slightly
    /// slower afterwards. Default on.
    /// </summary>
    public bool MapsStartForThroughput { get; init; } = true;
}

/// <summary>
/// The heart of the control plane, and the façade its routes and sockets call: it accepts inputs and keeps them
/// durable, and orchestrates the parts that hand them to containers (<see cref="PoolDispatcher"/>), publish outputs in
/// completion order (<see cref="OutputPublisher"/>), decide what a failure costs (<see cref="FailurePolicy"/>), scale
/// each pool (<see cref="PoolScaler"/>) and place containers and sessions (<see cref="WorkerRegistry"/>,
/// <see cref="SessionPlacement"/>). It also runs the containers' lifecycle and the periodic tick.
/// </summary>
/// <remarks>
/// The scheduler owns the one lock that guards all in-memory state. The parts hold their own state but are not
/// thread-safe: the scheduler calls them under its lock, and only <see cref="OutputPublisher"/>, which publishes when a
/// write commits and waits for long polls, takes the lock itself. No I/O happens under it, except queueing writes to
/// the store's single writer. Queueing under the lock keeps the store's commit order equal to the order the scheduler
/// decided, which is what makes an output cursor stable across a restart.
/// </remarks>
internal sealed partial class Scheduler(IAppStore appStore, ICallStore callStore, LogHub logs, TimeProvider clock, SchedulerOptions options, ILogger<Scheduler> logger, Objects.SecretRegistry secrets, bool ownsEveryApp = true) : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly AppRegistry _apps = new();
    private readonly CallTable _calls = new(options);
    private readonly WorkerRegistry _workers = new();
    private readonly PoolDispatcher _dispatcher = new(clock);
    private readonly PoolScaler _scaler = new(clock);
    private readonly FailurePolicy _failures = new(options);
    private readonly ChangeSignal _changes = new();
    private OutputPublisher? _outputs;

    // Created on first use because a field initializer cannot pass it the lock; creating it has no side effects.
    private OutputPublisher Outputs => LazyInitializer.EnsureInitialized(ref _outputs, () => new OutputPublisher(_gate, callStore, _calls, _changes, clock, logger));

    /// <summary>Outputs released from memory after which the heap is compacted and returned to the system.</summary>
    private const long CollectAfterReleased = 200_000;
    private readonly Dictionary<string, ContainerState> _containers = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private Task _ticker = Task.CompletedTask;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!ownsEveryApp)
        {
            // A replica among several owns no app until it takes its lease (see AdoptAppAsync).
            _ticker = Task.Run(TickLoopAsync, CancellationToken.None);
            return;
        }
        foreach (var app in await appStore.ListAppsAsync(cancellationToken).ConfigureAwait(false))
        {
            _apps.Add(new AppState(app));
            await logs.InitializeAppAsync(app.AppId, app.State == AppStates.Stopped, cancellationToken).ConfigureAwait(false);
        }
        var pending = await callStore.LoadPendingInputsAsync(cancellationToken).ConfigureAwait(false);
        await QueuePendingAsync(pending, cancellationToken).ConfigureAwait(false);
        _ticker = Task.Run(TickLoopAsync, CancellationToken.None);
    }

    /// <summary>Queues inputs reloaded from the store, each with its call.</summary>
    private async Task QueuePendingAsync(IReadOnlyList<PendingInput> pending, CancellationToken cancellationToken)
    {
        foreach (var group in pending.GroupBy(p => p.Call.CallId))
        {
            var call = await LoadCallAsync(group.First().Call, cancellationToken).ConfigureAwait(false);
            if (call is null)
            {
                continue;
            }
            lock (_gate)
            {
                var items = group.ToList();
                for (var i = 0; i < items.Count; i++)
                {
                    var item = items[i];
                    // The call may have been in memory already, with some of these inputs queued.
                    if (call.Open.ContainsKey(item.Input.Index))
                    {
                        continue;
                    }
                    if (call.Pool.Stored.ShouldHold(call.Pool.Ready.Count, 1, options.BacklogWindow))
                    {
                        // Every unfinished input of the call from here on is in this list, in id order: the store holds them.
                        call.Pool.Stored.AddRange(call, item.Input.InputId, items[^1].Input.InputId, items.Count - i);
                        break;
                    }
                    var input = new InputState(item.Input.InputId, call, item.Input.Index, ParseArgs(item.Input.Args), item.Input.ArgsBlob)
                    {
                        Attempt = item.Attempt,
                    };
                    call.Open[input.Index] = input;
                    call.Pool.Ready.AddLast(input);
                }
            }
        }
        if (pending.Count > 0)
        {
            LogRecovered(logger, pending.Count);
        }
    }

    internal static JsonElement? ParseArgs(string? json) => json is null ? null : JsonDocument.Parse(json).RootElement.Clone();

    // ---------------------------------------------------------------- apps

    public async Task<AppRecord> CreateAppAsync(CreateAppRequest request, CancellationToken cancellationToken)
    {
        var record = new AppRecord(Ids.New("ap"), request.Name, request.BuildId, AppStates.Running, request.Detached, clock.GetUtcNow(), null, request.Definition);
        await appStore.SaveAppAsync(record, cancellationToken).ConfigureAwait(false);
        var fence = ClaimNewApp is { } claim ? await claim(record.AppId, cancellationToken).ConfigureAwait(false) : null;
        lock (_gate)
        {
            _apps.Add(new AppState(record) { Fence = fence });
        }
        await logs.InitializeAppAsync(record.AppId, stopped: false, cancellationToken).ConfigureAwait(false);
        return record;
    }

    public async Task SetDefinitionAsync(string appId, AppDefinition definition, CancellationToken cancellationToken)
    {
        AppRecord updated;
        lock (_gate)
        {
            var app = _apps.Require(appId);
            // The name the program gives its App is the app's name; the one it was created under (the file's) was a guess.
            updated = app.Record with { Name = string.IsNullOrWhiteSpace(definition.Name) ? app.Record.Name : definition.Name, Definition = definition };
            app.Record = updated;
            // Default pools exist from the start, so MinContainers warms them before the first call.
            var now = clock.GetUtcNow();
            foreach (var function in definition.Functions)
            {
                var pool = AppRegistry.GetOrCreatePool(app, function, null);
                if (function.Settings.Web is { } web)
                {
                    RouteWebLocked(web.Label, pool);
                }
                ScaleLocked(pool, now);
            }
        }
        await appStore.SaveAppAsync(updated, cancellationToken).ConfigureAwait(false);
    }

    public IReadOnlyList<AppSummary> ListApps()
    {
        lock (_gate)
        {
            return [.. _apps.Values
                .OrderByDescending(a => a.Record.CreatedAt)
                .Select(a => new AppSummary(
                    a.AppId, a.Record.Name, a.Record.State, a.Record.CreatedAt,
                    a.Record.Definition?.Functions.Count ?? 0, a.Pools.Values.Sum(p => p.Containers.Count), a.Record.StoppedAt, VersionLocked(a.AppId), WebUrlsLocked(a)))];
        }
    }

    public AppRecord GetApp(string appId)
    {
        lock (_gate)
        {
            return _apps.Require(appId).Record;
        }
    }

    /// <summary>Finds an app by id, or the newest app with that name.</summary>
    public string ResolveApp(string idOrName)
    {
        lock (_gate)
        {
            if (_apps.ContainsKey(idOrName))
            {
                return idOrName;
            }
            var named = _apps.Values.Where(a => a.Record.Name == idOrName).OrderByDescending(a => a.Record.CreatedAt).FirstOrDefault();
            return named?.AppId ?? throw new NotFoundException($"No app has the id or name '{idOrName}'.");
        }
    }

    public async Task StopAppAsync(string appId, CancellationToken cancellationToken)
    {
        AppRecord updated;
        lock (_gate)
        {
            var app = _apps.Require(appId);
            if (app.Stopped)
            {
                return;
            }
            updated = app.Record with { State = AppStates.Stopped, StoppedAt = clock.GetUtcNow() };
            app.Record = updated;
            foreach (var call in _calls.Values.Where(c => c.Pool.App == app && !c.IsDone).ToList())
            {
                CancelLocked(call, "The app was stopped.");
            }
            logs.System(appId, null, null, "App stopped.");
            foreach (var container in app.Pools.Values.SelectMany(p => p.Containers.Values).ToList())
            {
                StopContainerLocked(container, "app stopped");
            }
            EndLogIfGoneLocked(app);
        }
        await appStore.SaveAppAsync(updated, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A stopped app's log ends when its last container is gone, so that followers (<c>ferry run</c>, <c>ferry app logs
    /// -f</c>) see what exit hooks print before the log says it is over.
    /// </summary>
    private void EndLogIfGoneLocked(AppState app)
    {
        if (app.Stopped && app.Pools.Values.All(p => p.Containers.Count == 0))
        {
            logs.MarkStopped(app.AppId);
        }
    }

    /// <summary>
    /// Drops stopped apps from memory: those stopped before <paramref name="forgetBefore"/> entirely (the store deletes
    /// them too), and the pools of those stopped before <paramref name="idleBefore"/>. Returns both sets of ids.
    /// </summary>
    public (IReadOnlyList<string> Idle, IReadOnlyList<string> Forgotten) ReleaseStoppedApps(DateTimeOffset idleBefore, DateTimeOffset forgetBefore)
    {
        lock (_gate)
        {
            var idle = new List<string>();
            var forgotten = new List<string>();
            foreach (var app in _apps.Values.Where(a => a.Stopped && a.Record.StoppedAt < idleBefore).ToList())
            {
                if (app.Pools.Values.Any(p => p.Containers.Count > 0))
                {
                    continue;
                }
                idle.Add(app.AppId);
                if (app.Record.StoppedAt < forgetBefore)
                {
                    _apps.Remove(app.AppId);
                    forgotten.Add(app.AppId);
                }
            }
            return (idle, forgotten);
        }
    }

    // ---------------------------------------------------------------- calls

    /// <summary>
    /// Creates a call, or adds to it if a retried request created it already; returns once inputs are durable. Returns
    /// the call as held in memory, or null for a retry of a call that has finished and left memory already.
    /// </summary>
    public async Task<CallState?> CreateCallAsync(string appId, CreateCallRequest request, CancellationToken cancellationToken)
    {
        CallState call;
        lock (_gate)
        {
            // A retry of a request that created a call which has since finished and left memory: it was accepted whole.
            if (_calls.WasEvicted(request.CallId))
            {
                return null;
            }
            var app = _apps.Require(appId);
            if (app.Stopped)
            {
                throw new ConflictException($"The app '{app.Record.Name}' ({appId}) is stopped.");
            }
            if (!_calls.TryGetValue(request.CallId, out var existing))
            {
                var function = AppRegistry.FindFunction(app, request.Function);
                AppRegistry.RequireKindFits(function, request.Kind);
                var pool = AppRegistry.GetOrCreatePool(app, function, request.Pool);
                var record = new CallRecord(request.CallId, appId, function.Name, pool.PoolId, request.Kind, clock.GetUtcNow(), false, request.Pool);
                existing = new CallState(record, pool) { Final = false };
                _calls.Add(existing);
            }
            // A retried request may reach the next version of a deployed app: the call stays with the version that took it.
            else if (existing.Record.Function != request.Function || (existing.Record.AppId != appId && existing.Pool.App.Record.Name != app.Record.Name))
            {
                throw new ConflictException($"The call id '{request.CallId}' is already used by another function.");
            }
            call = existing;
        }
        await AddInputsAsync(call, request.Inputs, request.Final, cancellationToken).ConfigureAwait(false);
        return call;
    }

    public async Task<int> AddInputsAsync(string callId, AddInputsRequest request, CancellationToken cancellationToken)
    {
        var call = await GetCallAsync(callId, cancellationToken).ConfigureAwait(false);
        return await AddInputsAsync(call, request.Inputs, request.Final, cancellationToken).ConfigureAwait(false);
    }

    private async Task<int> AddInputsAsync(CallState call, IReadOnlyList<InputItem> items, bool final, CancellationToken cancellationToken)
    {
        var accepted = new List<InputItem>(items.Count);
        Task previous;
        TaskCompletionSource written = new(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (call.Final && items.Any(i => !call.Indices.Contains(i.Index)))
            {
                throw new ConflictException($"The call '{call.CallId}' is final and takes no more inputs.");
            }
            if (call.Cancelled)
            {
                throw new ConflictException($"The call '{call.CallId}' was cancelled.");
            }
            foreach (var item in items)
            {
                if (call.Indices.Add(item.Index))
                {
                    accepted.Add(item);
                }
            }
            previous = call.LastWrite;
            call.LastWrite = written.Task;
        }
        IReadOnlyList<long> ids;
        try
        {
            var records = accepted.Select(i => new NewInput(i.Index, i.Args?.GetRawText(), i.ArgsBlob)).ToList();
            // The final mark commits with the inputs: one write, so a call of one input is acknowledged after one commit.
            var record = final ? call.Record with { Final = true } : call.Record;
            ids = await callStore.AddInputsAsync(record, records, call.Pool.App.Fence, cancellationToken).ConfigureAwait(false);
            // A retried request must not be acknowledged before the write that first accepted its inputs commits.
            await previous.ConfigureAwait(false);
        }
        catch
        {
            lock (_gate)
            {
                foreach (var item in accepted)
                {
                    call.Indices.Remove(item.Index);
                }
            }
            written.TrySetResult();
            throw;
        }
        // An id of 0 is an index the store already had: another server accepted it first and dispatches it.
        var fresh = ids.Count(id => id != 0);
        TaskCompletionSource signal;
        lock (_gate)
        {
            written.TrySetResult();
            call.Final |= final;
            // Every output may have been published before the final inputs' write committed.
            MarkIfDoneLocked(call);
            if (!call.Cancelled)
            {
                var pool = call.Pool;
                if (pool.Stored.ShouldHold(pool.Ready.Count, fresh, options.BacklogWindow))
                {
                    // Durable already: memory keeps only their ids until the queue drains down to them.
                    pool.Stored.Add(call, ids);
                }
                else
                {
                    for (var i = 0; i < accepted.Count; i++)
                    {
                        if (ids[i] != 0)
                        {
                            var input = new InputState(ids[i], call, accepted[i].Index, accepted[i].Args, accepted[i].ArgsBlob);
                            call.Open[input.Index] = input;
                            pool.Ready.AddLast(input);
                        }
                    }
                }
                call.Pool.LastActive = clock.GetUtcNow();
                ScaleLocked(call.Pool, clock.GetUtcNow());
                DispatchLocked(call.Pool);
                PulseLocked();
            }
            signal = OutputPublisher.TakeSignal(call);
        }
        OutputPublisher.Wake([signal]);
        return fresh;
    }

    public async Task<CallState> GetCallAsync(string callId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_calls.TryGetValue(callId, out var known))
            {
                return known;
            }
        }
        var record = await callStore.GetCallAsync(callId, cancellationToken).ConfigureAwait(false)
            ?? throw new NotFoundException($"No call has the id '{callId}'.");
        return await LoadCallAsync(record, cancellationToken).ConfigureAwait(false)
            ?? throw new NotFoundException($"The call '{callId}' belongs to an app this server no longer knows.");
    }

    private async Task<CallState?> LoadCallAsync(CallRecord record, CancellationToken cancellationToken)
    {
        var (outputs, indices) = await callStore.LoadCallAsync(record.CallId, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            if (_calls.TryGetValue(record.CallId, out var raced))
            {
                return raced;
            }
            if (!_apps.TryGetValue(record.AppId, out var app))
            {
                return null;
            }
            var function = app.Record.Definition?.Functions.FirstOrDefault(f => f.Name == record.Function);
            if (function is null)
            {
                return null;
            }
            var call = new CallState(record, AppRegistry.GetOrCreatePool(app, function, record.Pool));
            foreach (var index in indices)
            {
                call.Indices.Add(index);
            }
            foreach (var output in outputs)
            {
                call.Outputs.Add(OutputPublisher.ToOutput(output));
            }
            _calls.TrimOutputs(call);
            _calls.Add(call);
            MarkIfDoneLocked(call);
            return call;
        }
    }

    /// <summary>Outputs after <paramref name="after"/>, waiting up to <paramref name="wait"/> for one to arrive.</summary>
    public async Task<OutputBatch> GetOutputsAsync(string callId, long after, TimeSpan wait, int limit, CancellationToken cancellationToken)
    {
        if (await FindFinishedInStoreAsync(callId, cancellationToken).ConfigureAwait(false) is { } finished)
        {
            // A finished call that left memory is paged straight from the store, never loaded whole.
            var start = Math.Clamp(after, 0, finished.Total);
            var page = await callStore.GetOutputsAsync(callId, start, limit, cancellationToken).ConfigureAwait(false);
            var items = page.Select(OutputPublisher.ToOutput).ToList();
            var next = items.Count > 0 ? items[^1].Cursor : start;
            return new OutputBatch(items, next, next == finished.Total, finished.Total);
        }
        var call = await GetCallAsync(callId, cancellationToken).ConfigureAwait(false);
        return await Outputs.WaitForOutputsAsync(call, after, wait, limit, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Outputs of a call just created by this request, as <see cref="GetOutputsAsync"/> gives them, without looking the
    /// call up again: it is in memory until its outputs are read to the end.
    /// </summary>
    public Task<OutputBatch> WaitForOutputsAsync(CallState call, TimeSpan wait, int limit, CancellationToken cancellationToken) =>
        Outputs.WaitForOutputsAsync(call, 0, wait, limit, cancellationToken);

    public async Task<CallStatus> CancelCallAsync(string callId, CancellationToken cancellationToken)
    {
        if (await FindFinishedInStoreAsync(callId, cancellationToken).ConfigureAwait(false) is { } finished)
        {
            return finished.Status;
        }
        var call = await GetCallAsync(callId, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            CancelLocked(call, "The call was cancelled.");
            return StatusLocked(call);
        }
    }

    public async Task<CallStatus> GetStatusAsync(string callId, CancellationToken cancellationToken)
    {
        if (await FindFinishedInStoreAsync(callId, cancellationToken).ConfigureAwait(false) is { } finished)
        {
            return finished.Status;
        }
        var call = await GetCallAsync(callId, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            return StatusLocked(call);
        }
    }

    private sealed record FinishedCall(CallRecord Record, int Total, CallStatus Status);

    /// <summary>A call that is not in memory and has finished, as the store has it; null for any other call.</summary>
    private async Task<FinishedCall?> FindFinishedInStoreAsync(string callId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_calls.ContainsKey(callId))
            {
                return null;
            }
        }
        if (await callStore.GetCallAsync(callId, cancellationToken).ConfigureAwait(false) is not { Final: true } record)
        {
            return null;
        }
        var (total, completed) = await callStore.CountInputsAsync(callId, cancellationToken).ConfigureAwait(false);
        if (completed < total)
        {
            return null;
        }
        var cancelled = await callStore.WasCancelledAsync(callId, cancellationToken).ConfigureAwait(false);
        return new FinishedCall(record, total, new CallStatus(callId, record.Function, cancelled ? "cancelled" : "done", total, completed, true));
    }

    /// <summary>The app a call belongs to, from memory or the store.</summary>
    public async Task<string> AppOfCallAsync(string callId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_calls.TryGetValue(callId, out var known))
            {
                return known.Record.AppId;
            }
        }
        return (await callStore.GetCallAsync(callId, cancellationToken).ConfigureAwait(false))?.AppId
            ?? throw new NotFoundException($"No call has the id '{callId}'.");
    }

    /// <summary>Whether a call's state is held in memory, for tests of retention.</summary>
    internal bool IsCallInMemory(string callId)
    {
        lock (_gate)
        {
            return _calls.ContainsKey(callId);
        }
    }

    /// <summary>Whether a call held in memory has every output, for tests of retention.</summary>
    internal bool IsCallDoneInMemory(string callId)
    {
        lock (_gate)
        {
            return _calls.TryGetValue(callId, out var call) && call.IsDone;
        }
    }

    private void MarkIfDoneLocked(CallState call) => _calls.MarkIfDone(call, clock.GetUtcNow());

    private void EvictLocked(CallState call) => _calls.Evict(call, clock.GetUtcNow());

    private static CallStatus StatusLocked(CallState call)
    {
        var state = call.Cancelled ? "cancelled" : call.IsDone ? "done" : "running";
        return new CallStatus(call.CallId, call.Record.Function, state, call.Indices.Count, (int)call.Published, call.Final);
    }

    private void CancelLocked(CallState call, string message)
    {
        if (call.Cancelled || call.IsDone)
        {
            return;
        }
        var error = call.Cancellation = new RemoteError("InputCancelled", message, null, ErrorKinds.Cancelled);
        call.Final = true;
        var byContainer = new Dictionary<ContainerState, List<long>>();
        foreach (var input in call.Open.Values.ToList())
        {
            if (input.Status == InputStatus.Running && input.Container is { } container)
            {
                // The input keeps its slot in container.Running until the container reports it or exits (see IsCancelling).
                if (!byContainer.TryGetValue(container, out var ids))
                {
                    byContainer[container] = ids = [];
                }
                ids.Add(input.Id);
            }
            Detach(input);
            CompleteLocked(input, new ContainerOutput(input.Id, input.Attempt, false, Error: error));
        }
        // Indices accepted but never opened (none today) would leave the call undone; cancelled calls are done.
        foreach (var (container, ids) in byContainer)
        {
            container.Peer?.Send(new CancelInputs(ids));
        }
        // Queued inputs leave the queue now, in one pass, so they count neither as backlog nor toward the scale.
        for (var node = call.Pool.Ready.First; node is not null;)
        {
            var next = node.Next;
            if (node.Value.Call == call)
            {
                call.Pool.Ready.Remove(node);
            }
            node = next;
        }
        call.Pool.Delayed.RemoveAll(input => input.Call == call);
        ScaleLocked(call.Pool, clock.GetUtcNow());
        // Inputs of the call waiting in the store are completed as cancelled as they are read back.
        ReadStoredLocked(call.Pool);
    }

    // ---------------------------------------------------------------- functions and pools

    public FunctionStats GetStats(string appId, string function, PoolSpec? spec)
    {
        lock (_gate)
        {
            var pools = spec is null ? _apps.PoolsOf(appId, function).ToList() : [AppRegistry.GetOrCreatePool(_apps.Require(appId), AppRegistry.FindFunction(_apps.Require(appId), function), spec)];
            var started = pools.Sum(p => p.Containers.Values.Sum(c => c.StartedCount));
            // Inputs queued in containers are backlog; those of cancelled calls are not, though they hold their slots.
            var queuedInContainers = pools.Sum(p => p.Containers.Values.Sum(c => c.Running.Values.Count(i => i.StartedAt == DateTimeOffset.MaxValue && !IsCancelling(i))));
            return new FunctionStats(
                pools.Sum(p => p.Queued + p.Delayed.Count) + queuedInContainers,
                pools.Sum(p => p.LiveContainers),
                started,
                pools.Sum(p => p.Containers.Values.Count(c => c.Status == ContainerStatus.Ready && c.Running.Count == 0)));
        }
    }

    public AutoscalerSettings UpdateAutoscaler(string appId, string function, PoolSpec? spec, AutoscalerUpdate update)
    {
        lock (_gate)
        {
            var app = _apps.Require(appId);
            var pools = spec is null ? _apps.PoolsOf(appId, function).ToList() : [];
            if (pools.Count == 0)
            {
                pools.Add(AppRegistry.GetOrCreatePool(app, AppRegistry.FindFunction(app, function), spec));
            }
            var now = clock.GetUtcNow();
            var merged = pools.Select(pool => pool.Settings with
            {
                MinContainers = update.MinContainers ?? pool.Settings.MinContainers,
                MaxContainers = update.MaxContainers ?? pool.Settings.MaxContainers,
                BufferContainers = update.BufferContainers ?? pool.Settings.BufferContainers,
                ScaledownWindowSeconds = update.ScaledownWindowSeconds ?? pool.Settings.ScaledownWindowSeconds,
            }).ToList();
            // Checked whole before anything changes: the update alone may be valid and still clash with what is in force.
            if (merged.FirstOrDefault(s => s.MaxContainers is { } max && s.MinContainers > max) is { } clash)
            {
                throw new Api.BadRequestException(
                    $"The field 'minContainers' ({clash.MinContainers}) must not exceed 'maxContainers' ({clash.MaxContainers}), which is in force for this function.");
            }
            for (var i = 0; i < pools.Count; i++)
            {
                pools[i].Settings = merged[i];
                ScaleLocked(pools[i], now);
            }
            var s = pools[0].Settings;
            return new AutoscalerSettings(s.MinContainers, s.BufferContainers, s.ScaledownWindowSeconds, s.MaxContainers);
        }
    }

    public IReadOnlyList<ContainerSummary> ListContainers(string? appId)
    {
        lock (_gate)
        {
            return [.. _containers.Values
                .Where(c => appId is null || c.Pool.App.AppId == appId)
                .OrderBy(c => c.CreatedAt)
                .Select(c => new ContainerSummary(c.Id, c.Pool.App.AppId, c.Pool.PoolId, c.Worker.WorkerId, c.Status.ToString().ToLowerInvariant(), c.CreatedAt, c.Running.Count))];
        }
    }

    public void StopContainer(string containerId)
    {
        lock (_gate)
        {
            var container = _containers.TryGetValue(containerId, out var c) ? c : throw new NotFoundException($"No container has the id '{containerId}'.");
            StopContainerLocked(container, "stopped by request");
        }
    }

    /// <summary>The app of a running container, or null.</summary>
    public string? AppOfContainer(string containerId)
    {
        lock (_gate)
        {
            return _containers.TryGetValue(containerId, out var container) ? container.Pool.App.AppId : null;
        }
    }

    /// <summary>Tells a running container's worker to open a session that runs <paramref name="command"/> inside it.</summary>
    public void OpenExecSession(string containerId, string sessionId, IReadOnlyList<string> command)
    {
        lock (_gate)
        {
            var container = _containers.TryGetValue(containerId, out var c) ? c : throw new NotFoundException($"No running container has the id '{containerId}'. See `ferry container list`.");
            SessionPlacement.OpenExec(container, sessionId, command);
        }
    }

    /// <summary>
    /// Tells a worker to start a container with a function's image, mounts, environment and resources (GPUs
    /// included) that runs <paramref name="command"/> in a session instead of the function. It takes no inputs; what
    /// it reserves is held until <paramref name="sessionId"/>'s session ends and the returned action releases it.
    /// </summary>
    public Action OpenShellSession(string appId, string function, string sessionId, IReadOnlyList<string> command)
    {
        lock (_gate)
        {
            var (worker, reservation) = SessionPlacement.OpenShell(_workers, _apps.Require(appId), function, sessionId, command);
            var released = 0;
            return () =>
            {
                if (Interlocked.Exchange(ref released, 1) == 0)
                {
                    lock (_gate)
                    {
                        WorkerRegistry.Release(worker, reservation);
                        ScaleWaitingPoolsLocked(clock.GetUtcNow());
                    }
                }
            };
        }
    }

    // ---------------------------------------------------------------- dispatch

    /// <summary>Hands queued inputs to ready containers with free slots (see <see cref="PoolDispatcher"/>).</summary>
    private void DispatchLocked(PoolState pool)
    {
        if (!pool.App.Released && _dispatcher.Dispatch(pool))
        {
            PulseLocked();
        }
        ReadStoredLocked(pool);
    }

    /// <summary>Reads the next page of the pool's inputs waiting in the store, once its queue in memory has drained enough.</summary>
    private void ReadStoredLocked(PoolState pool)
    {
        if (pool.App.Released || pool.Stored.NextPage(pool.Ready.Count, options.BacklogWindow) is not { } page)
        {
            return;
        }
        // Off this thread: the read's continuation must not run under the lock its caller holds.
        _ = Task.Run(() => ReadPageAsync(pool, page), CancellationToken.None);
    }

    private async Task ReadPageAsync(PoolState pool, StoredBacklog.Page page)
    {
        IReadOnlyList<PendingInput> read;
        try
        {
            read = await callStore.LoadQueuedInputsAsync(page.Call.Record, page.FromId, page.ToId, page.Limit, _stopping.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            lock (_gate)
            {
                // The next tick asks again.
                pool.Stored.Abandon();
            }
            if (!_stopping.IsCancellationRequested)
            {
                LogStoredReadFailed(logger, pool.PoolId, e);
            }
            return;
        }
        var signals = new List<TaskCompletionSource>();
        lock (_gate)
        {
            var inputs = pool.Stored.Apply(page, read);
            var call = page.Call;
            if (call.Cancellation is { } error)
            {
                // The call was cancelled while these waited in the store: they end as its other inputs did.
                var cancelled = new List<(InputState, ContainerOutput)>(inputs.Count);
                foreach (var input in inputs)
                {
                    Detach(input);
                    cancelled.Add((input, new ContainerOutput(input.Id, input.Attempt, false, Error: error)));
                }
                CompleteManyLocked(cancelled);
            }
            else
            {
                foreach (var input in inputs)
                {
                    call.Open[input.Index] = input;
                    pool.Ready.AddLast(input);
                }
            }
            if (!pool.App.Released)
            {
                ScaleLocked(pool, clock.GetUtcNow());
                DispatchLocked(pool);
            }
            // A stopped app's pool is not ticked: its cancelled calls' stored inputs are read on from here.
            ReadStoredLocked(pool);
        }
    }

    /// <summary>Outputs reported by a container.</summary>
    public void OnOutputs(ContainerState container, IReadOnlyList<ContainerOutput> outputs, double? runSeconds = null)
    {
        var wake = new List<TaskCompletionSource>();
        lock (_gate)
        {
            var now = clock.GetUtcNow();
            if (runSeconds is { } seconds && outputs.Count > 0 && double.IsFinite(seconds) && seconds >= 0)
            {
                PoolScaler.RecordRunTime(container.Pool, TimeSpan.FromSeconds(seconds / outputs.Count));
            }
            var done = new List<(InputState, ContainerOutput)>(outputs.Count);
            foreach (var output in outputs)
            {
                if (!container.Running.Remove(output.InputId, out var input) || input.Attempt != output.Attempt || IsCancelling(input))
                {
                    continue; // timed out, retried elsewhere, or cancelled: its outcome is recorded, and now its slot is free
                }
                if (input.StartedAt != DateTimeOffset.MaxValue)
                {
                    container.RecordRun(now - input.StartedAt);
                    PoolScaler.RecordServiceTime(container.Pool, now - input.StartedAt);
                }
                Detach(input);
                if (output.Success || !TryRetryLocked(input, output.Error, now))
                {
                    done.Add((input, output));
                }
            }
            if (done.Count > 0)
            {
                Outputs.Complete(done, wake);
            }
            PoolDispatcher.PromoteQueued(container, now);
            if (container.Running.Count == 0)
            {
                container.IdleSince = now;
            }
            container.Pool.LastActive = now;
            DispatchLocked(container.Pool);
        }
        // A waiting caller of a call of one input resumes here, and answers, while its output commits.
        OutputPublisher.Wake(wake);
    }

    /// <summary>
    /// An input of a cancelled call that its container may still be running. Its outcome is recorded already, but it
    /// stays in <see cref="ContainerState.Running"/>, holding its slot, until the container reports it finished or
    /// exits, so no container is given more than its MaxInputs at once.
    /// </summary>
    private static bool IsCancelling(InputState input) => input.Status == InputStatus.Done;

    private static void Detach(InputState input)
    {
        input.Container = null;
        input.Status = InputStatus.Done;
    }

    /// <summary>Schedules a retry of a failed input if its policy allows; true if it will run again.</summary>
    private bool TryRetryLocked(InputState input, RemoteError? error, DateTimeOffset now)
    {
        var decision = FailurePolicy.OnFailed(InputFailureFacts.Of(input));
        if (decision.Action != FailureAction.Retry)
        {
            return false;
        }
        RetryLocked(input, error, decision.Delay, now);
        return true;
    }

    private void RetryLocked(InputState input, RemoteError? error, TimeSpan delay, DateTimeOffset now)
    {
        var policy = input.Call.Pool.Settings.Retries!;
        input.RetriesUsed++;
        input.Attempt++;
        input.Status = InputStatus.Delayed;
        input.DueAt = now + delay;
        input.Call.Pool.Delayed.Add(input);
        logs.System(input.Call.Pool.App.AppId, input.Call.Record.Function, null,
            $"Input {input.Index} failed ({error?.Type ?? "error"}: {error?.Message}); retry {input.RetriesUsed} of {policy.MaxRetries} in {delay.TotalSeconds:0.###} s.");
    }

    /// <summary>
    /// The call of a generator input the container runs at this attempt, for relaying its items; null if the container
    /// does not run it (any more), or its call is not a generator call.
    /// </summary>
    public string? StreamCallOf(ContainerState container, long inputId, int attempt)
    {
        lock (_gate)
        {
            return container.Running.TryGetValue(inputId, out var input) && input.Attempt == attempt && !IsCancelling(input)
                && input.Call.Record.Kind == CallKinds.Stream
                ? input.Call.CallId
                : null;
        }
    }

    /// <summary>Whether a call is held in memory and has not finished.</summary>
    public bool IsCallOpen(string callId)
    {
        lock (_gate)
        {
            return _calls.TryGetValue(callId, out var call) && !call.IsDone;
        }
    }

    private void RequeueLocked(InputState input)
    {
        input.Attempt++;
        input.Status = InputStatus.Queued;
        input.Container = null;
        input.Call.Pool.Ready.AddFirst(input);
    }

    /// <summary>Records an input's final outcome. Outputs become visible in exactly the order they are committed.</summary>
    private void CompleteLocked(InputState input, ContainerOutput output) => CompleteManyLocked([(input, output)]);

    private void CompleteManyLocked(IReadOnlyList<(InputState Input, ContainerOutput Output)> done) => Outputs.Complete(done);

    private void PulseLocked() => _changes.Pulse();

    /// <summary>
    /// Resolves once <paramref name="condition"/>, evaluated under the scheduler's lock after each change of containers
    /// or outputs, holds. Tests wait on this instead of sleeping.
    /// </summary>
    public async Task WaitUntilAsync(Func<bool> condition, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (condition())
                {
                    return;
                }
                changed = _changes.Next;
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The pools of an app, for inspection under the lock by <see cref="WaitUntilAsync"/> conditions and tests.</summary>
    internal IReadOnlyCollection<PoolState> PoolsOfApp(string appId) => _apps.Require(appId).Pools.Values;

    // ---------------------------------------------------------------- containers

    /// <summary>Checks a container's token when it connects; null if either is unknown.</summary>
    public ContainerState? AuthenticateContainer(string containerId, string secret)
    {
        lock (_gate)
        {
            return _containers.TryGetValue(containerId, out var container)
                && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(container.Token), Encoding.UTF8.GetBytes(secret))
                ? container
                : null;
        }
    }

    /// <summary>A live container by id, or null.</summary>
    public ContainerState? FindContainer(string containerId)
    {
        lock (_gate)
        {
            return _containers.GetValueOrDefault(containerId);
        }
    }

    public void OnContainerConnected(ContainerState container, IPeer<ContainerMessage> peer)
    {
        lock (_gate)
        {
            container.Peer = peer;
            // An input handed over with the start command may have been cancelled before the container could be told.
            if (container.Running.Values.Where(IsCancelling).Select(i => i.Id).ToList() is { Count: > 0 } cancelled)
            {
                peer.Send(new CancelInputs(cancelled));
            }
            if (container.Status == ContainerStatus.Stopping)
            {
                peer.Send(new StopContainer("stopping"));
            }
        }
    }

    public void OnContainerReady(ContainerState container, int maxInputs)
    {
        lock (_gate)
        {
            if (container.Status != ContainerStatus.Starting)
            {
                return;
            }
            container.Status = ContainerStatus.Ready;
            container.ReadyAt = clock.GetUtcNow();
            container.MaxInputs = Math.Max(1, maxInputs);
            container.IdleSince = clock.GetUtcNow();
            // An input handed over with the start command starts now.
            PoolDispatcher.PromoteQueued(container, clock.GetUtcNow());
            var startup = clock.GetUtcNow() - container.CreatedAt;
            PoolScaler.RecordColdStart(container.Pool, startup);
            logs.System(container.Pool.App.AppId, container.Pool.PoolId, container.Id, $"Container ready in {startup.TotalMilliseconds:0} ms.");
            PulseLocked();
            DispatchLocked(container.Pool);
        }
    }

    /// <summary>The container's stream closed. Its process may still be exiting; the worker reports the exit.</summary>
    public void OnContainerDisconnected(ContainerState container, IPeer<ContainerMessage> peer)
    {
        lock (_gate)
        {
            if (ReferenceEquals(container.Peer, peer))
            {
                container.Peer = null;
            }
        }
    }

    /// <summary>A container is gone: every input it was running fails or is retried, according to why it went.</summary>
    /// <summary>
    /// A starting container's user code failed (its class's enter hook threw): once it exits, the pool's waiting inputs
    /// fail with this error instead of the exit's.
    /// </summary>
    public void OnContainerStartFailed(ContainerState container, RemoteError error)
    {
        lock (_gate)
        {
            if (container.Status == ContainerStatus.Starting)
            {
                container.StartError = error with { Kind = ErrorKinds.EnterFailed };
            }
        }
    }

    public void OnContainerExited(string containerId, string reason, string? detail)
    {
        lock (_gate)
        {
            if (!_containers.Remove(containerId, out var container))
            {
                return;
            }
            RemoveContainerLocked(container, reason, detail);
        }
    }

    private void RemoveContainerLocked(ContainerState container, string reason, string? detail)
    {
        if (container.StartError is not null && reason != "stopped")
        {
            // Its own report says more than an exit code; the error itself reaches the callers, so it is not logged twice.
            reason = ErrorKinds.EnterFailed;
            detail = null;
        }
        var pool = container.Pool;
        var now = clock.GetUtcNow();
        pool.Containers.Remove(container.Id);
        _containers.Remove(container.Id);
        WorkerRegistry.Release(container.Worker, container.Reservation);
        container.Peer?.Close();
        var expected = container.Status == ContainerStatus.Stopping && container.Running.Values.All(IsCancelling);
        logs.System(pool.App.AppId, pool.PoolId, container.Id, expected
            ? "Container stopped."
            : reason == ErrorKinds.ImageBuild
                // The build's output is already in the log, line by line.
                ? "Container not started: its image could not be built."
                : reason == ErrorKinds.EnterFailed
                    ? "Container exited: its enter hook failed."
                    : $"Container exited ({reason}){(detail is null ? "" : ": " + detail)}.");
        var error = container.StartError ?? FailurePolicy.ExitError(reason, detail, pool.Settings.MemoryMiB);
        if (!expected)
        {
            pool.LastExit = error.Message;
        }
        foreach (var input in container.Running.Values.Where(i => !IsCancelling(i)).ToList())
        {
            input.Container = null;
            var decision = _failures.OnContainerExited(reason, InputFailureFacts.Of(input));
            if (decision.ChargesPlatformBudget)
            {
                input.InternalFailures++;
            }
            switch (decision.Action)
            {
                case FailureAction.Requeue:
                    RequeueLocked(input);
                    break;
                case FailureAction.Retry:
                    RetryLocked(input, error, decision.Delay, now);
                    break;
                default:
                    Detach(input);
                    CompleteLocked(input, new ContainerOutput(input.Id, input.Attempt, false, Error: error));
                    break;
            }
        }
        container.Running.Clear();
        PulseLocked();
        switch (_failures.OnContainerExitedForPool(container.Status == ContainerStatus.Starting, reason, error.Kind, pool.StartupFailures))
        {
            case StartupFailureAction.Count:
                pool.StartupFailures++;
                break;
            case StartupFailureAction.FailQueued:
                FailStartupLocked(pool, error);
                break;
            default:
                if (container.Status != ContainerStatus.Starting)
                {
                    pool.StartupFailures = 0;
                }
                break;
        }
        if (!pool.App.Stopped)
        {
            ScaleLocked(pool, now);
            DispatchLocked(pool);
        }
        EndLogIfGoneLocked(pool.App);
        ScaleWaitingPoolsLocked(now);
    }

    /// <summary>Freed resources may let a pool's waiting container start.</summary>
    private void ScaleWaitingPoolsLocked(DateTimeOffset now)
    {
        foreach (var pool in _apps.LivePools.Where(p => p.WaitingForResources))
        {
            ScaleLocked(pool, now);
        }
    }

    /// <summary>
    /// Containers of a pool that die before they are ready will keep dying: after a few in a row (see
    /// <see cref="FailurePolicy.OnContainerExitedForPool"/>), the queued inputs fail with the reason instead of waiting
    /// forever, and the pool tries again on the next input.
    /// </summary>
    private void FailStartupLocked(PoolState pool, RemoteError error)
    {
        var immediate = error.Kind is ErrorKinds.ImageBuild or ErrorKinds.EnterFailed or ErrorKinds.Secret;
        pool.StartupFailures = 0;
        var failed = immediate ? error : new RemoteError("ContainerStartFailed", $"Containers of '{pool.PoolId}' failed to start {_failures.StartupFailureLimit} times in a row. Last: {error.Message}", null, ErrorKinds.Crash);
        pool.StartFailed = (pool.StartFailed.Count + 1, failed.Message);
        var queued = pool.Ready.Count + pool.Delayed.Count;
        FailQueuedLocked(pool, failed);
        if (!immediate || (error.Kind == ErrorKinds.EnterFailed && queued == 0))
        {
            // With no caller waiting, the log is the only place the failure shows.
            logs.System(pool.App.AppId, pool.PoolId, null, failed.Message);
        }
    }

    private void StopContainerLocked(ContainerState container, string reason)
    {
        if (container.Status == ContainerStatus.Stopping)
        {
            return;
        }
        container.Status = ContainerStatus.Stopping;
        logs.System(container.Pool.App.AppId, container.Pool.PoolId, container.Id, $"Stopping the container: {reason}.");
        container.Peer?.Send(new StopContainer(reason));
        container.Worker.Peer.Send(new StopContainerCommand(container.Id, options.StopGrace.TotalSeconds, reason));
    }

    private void KillContainerLocked(ContainerState container, string reason)
    {
        container.Status = ContainerStatus.Stopping;
        container.Worker.Peer.Send(new StopContainerCommand(container.Id, 0, reason));
    }

    // ---------------------------------------------------------------- workers

    /// <summary>
    /// Registers a worker under the identity its join token holds: the first worker id a token registers is bound to
    /// it, and a worker id is served by one connection at a time. Returns null, having logged why, for a connection
    /// that claims a worker id that is connected already or bound to another token.
    /// </summary>
    public WorkerState? RegisterWorker(WorkerHello hello, string credentialId, IPeer<WorkerMessage> peer)
    {
        lock (_gate)
        {
            var (worker, refusal) = _workers.Register(hello, credentialId, peer);
            if (worker is null)
            {
                LogWorkerRefused(logger, hello.WorkerId, credentialId, refusal!);
                return null;
            }
            // Containers a worker still runs from before a server restart are unknown here: stop them.
            foreach (var orphan in hello.RunningContainers.Where(id => !_containers.ContainsKey(id)))
            {
                peer.Send(new StopContainerCommand(orphan, 0, "unknown to the control plane"));
            }
            LogWorker(logger, worker.Name, worker.Runtime, worker.Resources.MaxContainers);
            var now = clock.GetUtcNow();
            foreach (var pool in _apps.LivePools)
            {
                ScaleLocked(pool, now);
            }
            return worker;
        }
    }

    public void UnregisterWorker(WorkerState worker)
    {
        lock (_gate)
        {
            if (_workers.Unregister(worker))
            {
                DropWorkerLocked(worker, "The worker disconnected.");
            }
        }
    }

    private void DropWorkerLocked(WorkerState worker, string detail)
    {
        foreach (var container in _containers.Values.Where(c => c.Worker == worker).ToList())
        {
            RemoveContainerLocked(container, ErrorKinds.Internal, detail);
        }
    }

    public void OnContainerStarted(string containerId, double startMs, string? webAddress = null)
    {
        lock (_gate)
        {
            if (_containers.TryGetValue(containerId, out var container))
            {
                container.ProcessStartMs = startMs;
                container.WebAddress = webAddress;
                if (webAddress is not null)
                {
                    PulseLocked();
                }
            }
        }
    }

    public void OnContainerLogs(IReadOnlyList<ContainerLogLine> lines)
    {
        var byApp = new Dictionary<string, List<(string?, string?, string, string, DateTimeOffset)>>();
        lock (_gate)
        {
            foreach (var line in lines)
            {
                if (!_containers.TryGetValue(line.ContainerId, out var container))
                {
                    continue;
                }
                var appId = container.Pool.App.AppId;
                if (!byApp.TryGetValue(appId, out var list))
                {
                    byApp[appId] = list = [];
                }
                list.Add((container.Pool.PoolId, container.Id, line.Stream, line.Text, line.Time));
            }
        }
        foreach (var (appId, list) in byApp)
        {
            logs.Append(appId, list);
        }
    }

    /// <summary>Waits until at least one worker is connected (used by tests and the embedded server).</summary>
    public async Task WaitForWorkersAsync(int count, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (_workers.Count >= count)
                {
                    return;
                }
                changed = _workers.Changed;
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    // ---------------------------------------------------------------- autoscaler and timers

    private async Task TickLoopAsync()
    {
        using var timer = new PeriodicTimer(options.TickInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                try
                {
                    Tick();
                }
                catch (Exception e)
                {
                    LogTickFailed(logger, e);
                }
                // An idle server allocates too little for the GC to run a full collection by itself, so the memory of
                // large finished calls would stay committed indefinitely. After releasing many, give it back once.
                if (_calls.ReleasedOutputs >= CollectAfterReleased)
                {
                    _calls.ResetReleasedOutputs();
                    GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>One pass of the autoscaler, timeouts and delayed retries, at the clock's current time.</summary>
    public void Tick()
    {
        lock (_gate)
        {
            var now = clock.GetUtcNow();
            _calls.Sweep(now);
            foreach (var container in _containers.Values.ToList())
            {
                CheckTimeoutsLocked(container, now);
            }
            foreach (var pool in _apps.LivePools.ToList())
            {
                for (var i = pool.Delayed.Count - 1; i >= 0; i--)
                {
                    var input = pool.Delayed[i];
                    if (input.DueAt <= now)
                    {
                        pool.Delayed.RemoveAt(i);
                        input.Status = InputStatus.Queued;
                        pool.Ready.AddLast(input);
                    }
                }
                ScaleLocked(pool, now);
                DispatchLocked(pool);
            }
        }
    }

    private void CheckTimeoutsLocked(ContainerState container, DateTimeOffset now)
    {
        if (container.Status == ContainerStatus.Starting && now - container.CreatedAt > options.StartupTimeout)
        {
            logs.System(container.Pool.App.AppId, container.Pool.PoolId, container.Id, $"Container did not become ready within {options.StartupTimeout.TotalSeconds:0} s.");
            KillContainerLocked(container, "startup timeout");
            return;
        }
        var timeout = TimeSpan.FromSeconds(container.Pool.Settings.TimeoutSeconds);
        var expired = container.Running.Values.Where(i => now - i.StartedAt > timeout).ToList();
        if (expired.Count == 0)
        {
            return;
        }
        // The only way to stop user code reliably is to stop its process: fail the expired inputs and re-run the others elsewhere.
        foreach (var input in expired)
        {
            container.Running.Remove(input.Id);
            if (IsCancelling(input))
            {
                continue;
            }
            Detach(input);
            var error = new RemoteError("FunctionTimeoutError", $"The function '{input.Call.Record.Function}' ran longer than its timeout of {timeout.TotalSeconds:0.###} s and was stopped.", null, ErrorKinds.Timeout);
            if (!TryRetryLocked(input, error, now))
            {
                CompleteLocked(input, new ContainerOutput(input.Id, input.Attempt, false, Error: error));
            }
        }
        foreach (var other in container.Running.Values.ToList())
        {
            container.Running.Remove(other.Id);
            if (!IsCancelling(other))
            {
                RequeueLocked(other);
            }
        }
        logs.System(container.Pool.App.AppId, container.Pool.PoolId, container.Id, "Stopping the container: an input timed out.");
        KillContainerLocked(container, "timeout");
    }

    /// <summary>Starts or stops containers so the pool has what its load and settings ask for.</summary>
    private void ScaleLocked(PoolState pool, DateTimeOffset now)
    {
        if (pool.App.Stopped || pool.App.Released)
        {
            return;
        }
        var plan = _scaler.Plan(pool, _workers.Cores);
        pool.WaitingForResources = false;
        for (var i = 0; i < plan.ToStart; i++)
        {
            if (!TryStartContainerLocked(pool, now))
            {
                pool.WaitingForResources = true;
                ExplainWaitLocked(pool);
                if (pool.Queued > 0)
                {
                    EvictIdleLocked(pool);
                }
                break;
            }
        }
        foreach (var (container, reason) in plan.ToStop)
        {
            StopContainerLocked(container, reason);
        }
    }

    /// <summary>
    /// Tells the app's log, once per reason, why its inputs wait when no worker could take them even idle, so a caller
    /// whose worker is down or too small learns why instead of waiting in silence.
    /// </summary>
    private void ExplainWaitLocked(PoolState pool)
    {
        if (pool.Queued == 0)
        {
            return;
        }
        var never = _workers.WhyNot(pool.Settings);
        if (never is not null && _workers.Count > 0)
        {
            // Waiting would be forever on these workers: say so to the callers now, as Modal does for a GPU it lacks.
            FailQueuedLocked(pool, new RemoteError("ResourcesUnavailable", $"No worker can run '{pool.Function.Name}': {never}.", null, ErrorKinds.Unschedulable));
            return;
        }
        var reason = never is null
            ? "every worker that could take them is busy. They start as soon as one has room."
            : $"{never}. They start when a worker that can take them connects.";
        if (pool.WaitReasonLogged == reason)
        {
            return;
        }
        pool.WaitReasonLogged = reason;
        logs.System(pool.App.AppId, pool.PoolId, null, $"{pool.Queued} input(s) of '{pool.Function.Name}' are waiting: {reason}");
    }

    /// <summary>Fails every input queued in the pool with <paramref name="error"/>.</summary>
    private void FailQueuedLocked(PoolState pool, RemoteError error)
    {
        var queued = pool.Ready.Concat(pool.Delayed).ToList();
        pool.Ready.Clear();
        pool.Delayed.Clear();
        foreach (var input in queued)
        {
            Detach(input);
            CompleteLocked(input, new ContainerOutput(input.Id, input.Attempt, false, Error: error));
        }
    }

    /// <summary>
    /// Frees a slot for a pool with queued inputs by stopping the longest-idle container of another pool, above that
    /// pool's minimum. Idle capacity should not keep waiting work from running until its scale-down window ends.
    /// One eviction at a time: the freed slot is taken when the stopped container's exit arrives.
    /// </summary>
    private void EvictIdleLocked(PoolState requester)
    {
        if (PoolScaler.ChooseToEvict(_containers.Values, requester) is { } victim)
        {
            victim.Evicted = true;
            StopContainerLocked(victim, $"making room for {requester.PoolId}");
        }
    }

    private bool TryStartContainerLocked(PoolState pool, DateTimeOffset now)
    {
        var app = pool.App;
        if (app.Record.BuildId is null)
        {
            return false;
        }
        var secretEnvironment = secrets.Resolve(pool.Settings.Secrets, out var secretProblem);
        if (secretProblem is not null)
        {
            FailSecretLocked(pool, secretProblem);
            return false;
        }
        if (_workers.TryReserve(pool.Settings) is not { } place)
        {
            return false;
        }
        pool.WaitReasonLogged = null;
        var forThroughput = options.MapsStartForThroughput && PoolScaler.StartsForThroughput(pool);
        var container = new ContainerState(Ids.New("ct"), Ids.Token(), pool, place.Worker, place.Reservation, now);
        _containers[container.Id] = container;
        pool.Containers[container.Id] = container;
        pool.PeakContainers = Math.Max(pool.PeakContainers, pool.Containers.Count);
        var first = _dispatcher.TakeFirstInput(pool, container);
        PulseLocked();
        place.Worker.Peer.Send(new StartContainerCommand(
            container.Id, $"{container.Id}.{container.Token}", app.AppId, app.Record.BuildId, pool.Function.ClassName ?? pool.Function.Name, pool.PoolId,
            pool.Settings, place.Reservation.GpuIndices, pool.Parameters, first, secretEnvironment, forThroughput));
        return true;
    }

    /// <summary>A container cannot start without its secrets: the queued inputs fail at once with the reason, which names no value.</summary>
    private void FailSecretLocked(PoolState pool, string problem)
    {
        if (pool.WaitReasonLogged != problem)
        {
            pool.WaitReasonLogged = problem;
            logs.System(pool.App.AppId, pool.PoolId, null, $"Container not started: {problem}");
        }
        FailStartupLocked(pool, new RemoteError("SecretError", problem, null, ErrorKinds.Secret));
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _ticker.ConfigureAwait(false);

    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Recovered {Count} unfinished inputs from the store.")]
    private static partial void LogRecovered(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker {Name} connected: {Runtime} runtime, up to {Max} containers.")]
    private static partial void LogWorker(ILogger logger, string name, string runtime, int max);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a worker connection claiming the id {WorkerId} with token {TokenId}: {Reason}.")]
    private static partial void LogWorkerRefused(ILogger logger, string workerId, string tokenId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading queued inputs of pool {PoolId} back from the store failed; the next tick tries again.")]
    private static partial void LogStoredReadFailed(ILogger logger, string poolId, Exception error);

    [LoggerMessage(Level = LogLevel.Error, Message = "A scheduler tick failed.")]
    private static partial void LogTickFailed(ILogger logger, Exception error);
}

/// <summary>An id that names nothing known.</summary>
internal sealed class NotFoundException(string message) : Exception(message);

/// <summary>A request that conflicts with the current state.</summary>
internal sealed class ConflictException(string message) : Exception(message);
