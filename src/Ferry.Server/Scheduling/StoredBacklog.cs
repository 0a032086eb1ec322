using Ferry.Server.Storage;

namespace Ferry.Server.Scheduling;

/// <summary>
/// The part of a pool's queue that waits in the store instead of memory. A pool keeps at most a window of queued
/// inputs in memory (<see cref="SchedulerOptions.BacklogWindow"/>); inputs accepted beyond it are durable already, so
/// only their ids are kept here, as runs of consecutive ids per call, in the order they were accepted. As the window
/// drains, the scheduler reads the next page back from the store (<see cref="NextPage"/>, then <see cref="Apply"/>) and
/// queues it behind what is in memory, so the pool's inputs are dispatched in the order they were accepted.
/// Not thread-safe: the scheduler calls it under its lock.
/// </summary>
/// <remarks>
/// A run names only inputs that this server accepted for the pool and never held in memory, so reading it back can
/// neither run an input twice nor pick up another server's: a new batch's ids form runs of consecutive ids, and the
/// range a restart adds holds every unfinished input of its call from its first id on. The store's page leaves out
/// inputs that have finished meanwhile (a cancelled call's).
/// </remarks>
internal sealed class StoredBacklog
{
    private readonly LinkedList<Run> _runs = new();

    private sealed class Run(CallState call, long next, long last, long remaining)
    {
        public CallState Call { get; } = call;
        public long Next { get; set; } = next;
        public long Last { get; set; } = last;
        public long Remaining { get; set; } = remaining;
    }

    /// <summary>A page to read from the store: <see cref="Call"/>'s unfinished inputs with ids from <see cref="FromId"/> to <see cref="ToId"/>.</summary>
    public sealed record Page(CallState Call, long FromId, long ToId, int Limit);

    /// <summary>Inputs waiting in the store, not yet read back.</summary>
    public long Count { get; private set; }

    /// <summary>Whether nothing waits in the store.</summary>
    public bool IsEmpty => _runs.Count == 0;

    /// <summary>Whether a page is being read; no other is handed out until it is applied or abandoned.</summary>
    public bool Reading { get; private set; }

    /// <summary>
    /// Whether <paramref name="arriving"/> new inputs go to the store rather than memory, with <paramref name="queued"/>
    /// queued in memory now: once anything waits in the store, everything after it does too, so the order holds.
    /// </summary>
    public bool ShouldHold(int queued, int arriving, int window) => !IsEmpty || queued + arriving > window;

    /// <summary>Adds a batch of <paramref name="call"/>'s inputs by the ids the store gave them, in order; ids of 0 are skipped.</summary>
    public void Add(CallState call, IReadOnlyList<long> ids)
    {
        foreach (var id in ids)
        {
            if (id == 0)
            {
                continue;
            }
            if (_runs.Last?.Value is { } tail && tail.Call == call && tail.Last == id - 1)
            {
                tail.Last = id;
                tail.Remaining++;
            }
            else
            {
                _runs.AddLast(new Run(call, id, id, 1));
            }
            Count++;
        }
    }

    /// <summary>
    /// Adds every unfinished input of <paramref name="call"/> with an id from <paramref name="firstId"/> to
    /// <paramref name="lastId"/>, <paramref name="count"/> of them, none of which is in memory (as after a restart).
    /// </summary>
    public void AddRange(CallState call, long firstId, long lastId, long count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(firstId, lastId);
        _runs.AddLast(new Run(call, firstId, lastId, count));
        Count += count;
    }

    /// <summary>
    /// The next page to read, when <paramref name="queued"/> inputs in memory have fallen to half the window or below,
    /// sized to fill it again; null when nothing waits, a page is being read, or the window is fuller than that.
    /// </summary>
    public Page? NextPage(int queued, int window)
    {
        if (Reading || _runs.First?.Value is not { } head || queued > window / 2)
        {
            return null;
        }
        Reading = true;
        return new Page(head.Call, head.Next, head.Last, Math.Max(1, window - queued));
    }

    /// <summary>
    /// Takes a page read from the store for <paramref name="page"/>: moves past it, and returns its inputs, in id
    /// order, to queue behind those in memory; inputs of the call held in memory already are left out.
    /// </summary>
    public IReadOnlyList<InputState> Apply(Page page, IReadOnlyList<PendingInput> read)
    {
        Reading = false;
        var head = _runs.First?.Value;
        if (head is null || head.Call != page.Call || head.Next != page.FromId)
        {
            // Cleared while the page was read (the app moved to another server): nothing of it is ours to queue.
            return [];
        }
        var inputs = new List<InputState>(read.Count);
        foreach (var item in read)
        {
            if (item.Input.InputId < page.FromId || item.Input.InputId > page.ToId)
            {
                throw new InvalidOperationException($"The store returned input {item.Input.InputId} for a page of ids {page.FromId} to {page.ToId}.");
            }
            if (!page.Call.Open.ContainsKey(item.Input.Index))
            {
                inputs.Add(new InputState(item.Input.InputId, page.Call, item.Input.Index, Scheduler.ParseArgs(item.Input.Args), item.Input.ArgsBlob) { Attempt = item.Attempt });
            }
        }
        var taken = Math.Min(head.Remaining, read.Count);
        head.Remaining -= taken;
        Count -= taken;
        // A short page read the range to its end; the run may have grown past the range while it was read.
        head.Next = read.Count < page.Limit ? page.ToId + 1 : read[^1].Input.InputId + 1;
        if (head.Next > head.Last)
        {
            // The run is read to its end; what it still counted finished while it waited.
            Count -= head.Remaining;
            _runs.RemoveFirst();
        }
        return inputs;
    }

    /// <summary>Gives up a page that could not be read; it is handed out again by the next <see cref="NextPage"/>.</summary>
    public void Abandon() => Reading = false;

    /// <summary>Forgets everything waiting in the store (the pool's app moved to another server, which reads it itself).</summary>
    public void Clear()
    {
        _runs.Clear();
        Count = 0;
    }
}
