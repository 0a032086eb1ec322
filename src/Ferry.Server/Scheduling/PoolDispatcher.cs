using Ferry.Protocol;

namespace Ferry.Server.Scheduling;

/// <summary>How a pool's queued inputs are handed out, by the state of its containers.</summary>
internal enum PoolPhase
{
    /// <summary>
    /// No container is ready: a new container takes the next queued input with its start command ("first input at
    /// start"), and runs it as soon as its enter hooks finish.
    /// </summary>
    Cold,

    /// <summary>
    /// Some containers are ready and some still starting: ready ones are given only their concurrency, so the starting
    /// ones' share of the work waits for them.
    /// </summary>
    Warming,

    /// <summary>No container is starting: each ready one may also hold a short local queue (its prefetch).</summary>
    Warm,
}

/// <summary>
/// Hands a pool's queued inputs to its containers: to ready containers with free slots, least-loaded first, one
/// message per container, and to a new container of a cold pool with its start command. Not thread-safe: the
/// scheduler calls it under its lock.
/// </summary>
internal sealed class PoolDispatcher(TimeProvider clock)
{
    private long _dispatchSeq;

    public static PoolPhase PhaseOf(PoolState pool)
    {
        bool ready = false, starting = false;
        foreach (var container in pool.Containers.Values)
        {
            ready |= container.Status == ContainerStatus.Ready;
            starting |= container.Status == ContainerStatus.Starting;
        }
        return !ready ? PoolPhase.Cold : starting ? PoolPhase.Warming : PoolPhase.Warm;
    }

    /// <summary>
    /// Hands queued inputs to ready containers with free slots, one message per container. True when some container
    /// had room, so waiters on the scheduler's state should look again.
    /// </summary>
    public bool Dispatch(PoolState pool)
    {
        if (pool.Ready.Count == 0)
        {
            return false;
        }
        var now = clock.GetUtcNow();
        // Queueing inputs inside a container hides the round trip per input, but only once the pool has all the
        // containers it will get: while one is still starting, its share of the work must wait for it.
        var prefetch = PhaseOf(pool) == PoolPhase.Warm;
        // Each ready container with room, with its capacity for this pass, and the batch it is sent.
        var open = new List<(ContainerState Container, int Capacity, List<ContainerInput>? Batch)>();
        var ready = 0;
        foreach (var container in pool.Containers.Values)
        {
            if (container.Status == ContainerStatus.Ready && container.Peer is not null)
            {
                ready++;
                var capacity = prefetch ? container.CapacityAt(now) : container.MaxInputs;
                if (container.Running.Count < capacity)
                {
                    open.Add((container, capacity, null));
                }
            }
        }
        if (open.Count > 0 && pool.CoreCap is { } cap && ready > cap)
        {
            KeepBusiest(pool, open, cap);
        }
        if (open.Count == 0)
        {
            return false;
        }
        while (pool.Ready.First is { } node)
        {
            // Least-loaded first spreads work; a container is filled up to its capacity only when all are busy.
            var target = -1;
            for (var i = 0; i < open.Count; i++)
            {
                var running = open[i].Container.Running.Count;
                if (running < open[i].Capacity && (target < 0 || running < open[target].Container.Running.Count))
                {
                    target = i;
                }
            }
            if (target < 0)
            {
                break;
            }
            pool.Ready.RemoveFirst();
            var container = open[target].Container;
            // Beyond its concurrency a container queues inputs locally and starts them in order as slots free up.
            var assigned = Assign(node.Value, container, container.StartedCount < container.MaxInputs ? now : DateTimeOffset.MaxValue);
            if (open[target].Batch is not { } batch)
            {
                open[target] = open[target] with { Batch = batch = [] };
            }
            batch.Add(assigned);
        }
        foreach (var (container, _, batch) in open)
        {
            if (batch is not null)
            {
                container.Peer!.Send(new InputBatch(batch));
            }
        }
        return true;
    }

    /// <summary>
    /// Leaves in <paramref name="open"/> only those of the <paramref name="cap"/> ready containers holding the most
    /// inputs, so that the same ones keep being fed and the rest run out of work and scale down.
    /// </summary>
    private static void KeepBusiest(PoolState pool, List<(ContainerState Container, int Capacity, List<ContainerInput>? Batch)> open, int cap)
    {
        // The ordering is stable: among equally loaded containers, the pool's own order decides, pass after pass.
        var kept = pool.Containers.Values.Where(c => c.Status == ContainerStatus.Ready && c.Peer is not null)
            .OrderByDescending(c => c.Running.Count).Take(cap).ToList();
        open.RemoveAll(entry => !kept.Contains(entry.Container));
    }

    /// <summary>Marks the oldest locally queued inputs as started, as the container does when slots free up.</summary>
    public static void PromoteQueued(ContainerState container, DateTimeOffset now)
    {
        var free = container.MaxInputs - container.StartedCount;
        if (free <= 0)
        {
            return;
        }
        foreach (var input in container.Running.Values.Where(i => i.StartedAt == DateTimeOffset.MaxValue).OrderBy(i => i.DispatchSeq).Take(free))
        {
            input.StartedAt = now;
        }
    }

    /// <summary>
    /// Hands a new container of a <see cref="PoolPhase.Cold"/> pool the next queued input with its start command, so
    /// the container runs it as soon as its enter hooks are done instead of waiting to connect, report ready and be
    /// sent it. The input counts as started only when the container reports ready, so its timeout does not include the
    /// cold start. Batching pools gather batches in the container and are left out, as are inputs too large for an
    /// environment variable.
    /// </summary>
    public ContainerInput? TakeFirstInput(PoolState pool, ContainerState container)
    {
        const int MaxInlineArgs = 16 * 1024;
        // Only on a cold pool: where a ready container exists, it may free a slot sooner than a new one starts.
        if ((pool.Settings.BatchMaxSize ?? 1) > 1 || pool.Ready.First is not { } node
            || PhaseOf(pool) != PoolPhase.Cold
            || (node.Value.Args is { } args && args.GetRawText().Length > MaxInlineArgs))
        {
            return null;
        }
        pool.Ready.RemoveFirst();
        container.FirstInputId = node.Value.Id;
        return Assign(node.Value, container, DateTimeOffset.MaxValue);
    }

    /// <summary>Gives a queued input to a container; <paramref name="startedAt"/> is MaxValue while it waits there.</summary>
    private ContainerInput Assign(InputState input, ContainerState container, DateTimeOffset startedAt)
    {
        input.Status = InputStatus.Running;
        input.Container = container;
        input.StartedAt = startedAt;
        input.DispatchSeq = ++_dispatchSeq;
        container.Running[input.Id] = input;
        return new ContainerInput(input.Id, input.Attempt, input.Call.Record.Function, input.Args, input.ArgsBlob);
    }
}
