using Microsoft.Extensions.Logging;

namespace Ferry.Worker.Runtimes.Placeholders;

/// <summary>What a pool keeps: a pre-started container that is not yet any app's.</summary>
internal interface IPlaceholder : IAsyncDisposable
{
    /// <summary>Completes when the placeholder can be specialised; faults when it ended before that.</summary>
    Task Ready { get; }

    /// <summary>True once the placeholder has ended; a pool drops such placeholders.</summary>
    bool HasExited { get; }

    /// <summary>The memory it holds now (resident set), for the pool's memory bound.</summary>
    long ResidentBytes();
}

/// <summary>
/// Which placeholders can become which containers: a placeholder of one kind becomes a container of the same kind,
/// since what it loaded at start (runtime settings, image) cannot change afterwards, or of a kind it can host (see
/// <see cref="Host"/>).
/// </summary>
/// <param name="Key">Equal for interchangeable placeholders.</param>
/// <param name="RuntimeKey">Its runtime settings (<see cref="PlaceholderFiles.RuntimeOptionsKey"/>), part of <paramref name="Key"/>.</param>
/// <param name="State">What the runtime needs to start one (its runtime settings, its image).</param>
internal sealed record PlaceholderKind(string Key, string RuntimeKey, object State)
{
    private readonly PlaceholderKind? _host;

    /// <summary>
    /// The kind whose placeholders can also become this kind's containers: the one with the default runtime settings
    /// and all else equal, kept only when <see cref="PlaceholderFiles.CanHost"/> says its settings run this kind's
    /// programs (a program built by <c>ferry run</c> uses fewer shared frameworks than the default placeholder has);
    /// null otherwise, and when this is that kind.
    /// </summary>
    public PlaceholderKind? Host
    {
        get => _host;
        init => _host = value is not null && !value.Equals(this) && PlaceholderFiles.CanHost(value.RuntimeKey, RuntimeKey) ? value : null;
    }

    public bool Equals(PlaceholderKind? other) => other is not null && other.Key == Key;

    public override int GetHashCode() => Key.GetHashCode(StringComparison.Ordinal);
}

/// <summary>
/// Keeps pre-started placeholders per kind and hands one out on a cold start. Each kind's size follows its recent
/// rate of cold starts (as many as it had in <see cref="PlaceholderOptions.RateWindow"/>; a pinned kind, the base
/// image's, at least one; every kind in use gets one before any gets a second), all kinds together stay within <see cref="PlaceholderOptions.MaxCount"/> and
/// <see cref="PlaceholderOptions.MaxMemoryMiB"/>, and placeholders start one at a time in the background, so a burst of
/// them never competes with the cold starts they are meant to speed up. A placeholder that is handed out leaves the
/// pool for good: it belongs to that container until it exits.
/// </summary>
internal sealed partial class PlaceholderPool<T> : IAsyncDisposable where T : class, IPlaceholder
{
    private readonly PlaceholderOptions _options;
    private readonly Func<PlaceholderKind, CancellationToken, Task<T>> _start;
    private readonly TimeProvider _time;
    private readonly ILogger? _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<PlaceholderKind, List<T>> _idle = [];
    private readonly Dictionary<PlaceholderKind, Queue<DateTimeOffset>> _coldStarts = [];
    private readonly HashSet<PlaceholderKind> _pinned = [];
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _failures;
    private int _taken;
    // Wakes asked for, and the last one a plan has seen; with the loop waiting and both equal, the pool is settled.
    private int _wakes;
    private int _planned;
    private bool _waiting;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public PlaceholderPool(PlaceholderOptions options, Func<PlaceholderKind, CancellationToken, Task<T>> start, TimeProvider time, ILogger? logger)
    {
        _options = options;
        _start = start;
        _time = time;
        _logger = logger;
        _loop = options.Enabled ? Task.Run(RunAsync) : Task.CompletedTask;
    }

    /// <summary>Keeps at least one placeholder of <paramref name="kind"/> ready from now on.</summary>
    public void Pin(PlaceholderKind kind)
    {
        lock (_gate)
        {
            _pinned.Add(kind);
        }
        Wake();
    }

    /// <summary>
    /// A ready placeholder for a cold start of <paramref name="kind"/>, now the caller's, or null when none is ready:
    /// one of the kind itself first, else one of its <see cref="PlaceholderKind.Host"/>. The cold start counts towards
    /// the pool size of the kind that serves such starts (its own when it had one ready, else its host when it has
    /// one), so a kind that was used gets placeholders from then on, and kinds that one host can serve share its.
    /// </summary>
    public T? TryTake(PlaceholderKind kind)
    {
        if (!_options.Enabled)
        {
            return null;
        }
        T? taken;
        lock (_gate)
        {
            taken = TakeReady(kind);
            var counted = kind;
            if (taken is null && kind.Host is { } host)
            {
                taken = TakeReady(host);
                counted = host;
            }
            if (!_coldStarts.TryGetValue(counted, out var starts))
            {
                _coldStarts[counted] = starts = new Queue<DateTimeOffset>();
            }
            starts.Enqueue(_time.GetUtcNow());
            if (taken is not null)
            {
                _taken++;
            }
        }
        Wake();
        return taken;
    }

    /// <summary>Removes and returns a ready placeholder of <paramref name="kind"/>, if it has one; under the gate.</summary>
    private T? TakeReady(PlaceholderKind kind)
    {
        if (!_idle.TryGetValue(kind, out var idle))
        {
            return null;
        }
        var index = idle.FindIndex(p => p.Ready.IsCompletedSuccessfully && !p.HasExited);
        if (index < 0)
        {
            return null;
        }
        var taken = idle[index];
        idle.RemoveAt(index);
        return taken;
    }

    /// <summary>How many placeholders of <paramref name="kind"/> are ready now.</summary>
    public int ReadyCount(PlaceholderKind kind)
    {
        lock (_gate)
        {
            return _idle.TryGetValue(kind, out var idle) ? idle.Count(p => p.Ready.IsCompletedSuccessfully && !p.HasExited) : 0;
        }
    }

    /// <summary>How many placeholders of every kind are ready now.</summary>
    public int ReadyTotal
    {
        get
        {
            lock (_gate)
            {
                return _idle.Values.Sum(l => l.Count(p => p.Ready.IsCompletedSuccessfully && !p.HasExited));
            }
        }
    }

    /// <summary>Waits until at least <paramref name="count"/> placeholders of any kind are ready.</summary>
    public Task WaitForReadyAsync(int count, CancellationToken cancellationToken) => WaitUntilAsync(() => ReadyTotal >= count, cancellationToken);

    /// <summary>
    /// Waits until <paramref name="condition"/> on the pool holds, checked whenever a placeholder becomes ready and
    /// whenever the pool has acted on a change (started, retired, or found it may not).
    /// </summary>
    internal async Task WaitUntilAsync(Func<bool> condition, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                changed = _changed.Task;
            }
            if (condition())
            {
                return;
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private void Changed()
    {
        TaskCompletionSource done;
        lock (_gate)
        {
            done = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        done.TrySetResult();
    }

    /// <summary>
    /// Waits until the pool has acted on every cold start and pin so far (started, retired, or found it may not) and
    /// waits for the next; for tests, which must not infer that from time passing.
    /// </summary>
    internal async Task WaitForSettledAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                changed = _changed.Task;
                if (_waiting && _planned == Volatile.Read(ref _wakes))
                {
                    return;
                }
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>How many placeholders have been handed out, since the pool started.</summary>
    public int Taken
    {
        get
        {
            lock (_gate)
            {
                return _taken;
            }
        }
    }

    /// <summary>How many placeholders of every kind are kept now, ready or starting.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _idle.Values.Sum(l => l.Count);
            }
        }
    }

    private void Wake()
    {
        Interlocked.Increment(ref _wakes);
        if (_wake.CurrentCount == 0)
        {
            _wake.Release();
        }
    }

    /// <summary>How many of each kind to keep: the recent cold starts, within the count bound, busiest kinds first.</summary>
    private Dictionary<PlaceholderKind, int> Targets()
    {
        var since = _time.GetUtcNow() - _options.RateWindow;
        var wanted = new List<(PlaceholderKind Kind, int Count)>();
        foreach (var kind in _coldStarts.Keys.Union(_pinned))
        {
            var recent = 0;
            if (_coldStarts.TryGetValue(kind, out var starts))
            {
                while (starts.Count > 0 && starts.Peek() < since)
                {
                    starts.Dequeue();
                }
                recent = starts.Count;
            }
            wanted.Add((kind, Math.Max(recent, _pinned.Contains(kind) ? 1 : 0)));
        }
        var targets = new Dictionary<PlaceholderKind, int>();
        var budget = _options.MaxCount;
        var order = wanted.OrderByDescending(w => _pinned.Contains(w.Kind)).ThenByDescending(w => w.Count).ToList();
        // One for every kind in use before a second for any, so a busy kind cannot crowd out every other.
        foreach (var (kind, count) in order)
        {
            var given = Math.Min(Math.Min(count, 1), budget);
            targets[kind] = given;
            budget -= given;
        }
        foreach (var (kind, count) in order)
        {
            var more = Math.Min(count - targets[kind], budget);
            targets[kind] += more;
            budget -= more;
        }
        return targets;
    }

    private async Task RunAsync()
    {
        var token = _stop.Token;
        Task? wake = null;
        while (!token.IsCancellationRequested)
        {
            var (start, retire) = Plan();
            foreach (var placeholder in retire)
            {
                await placeholder.DisposeAsync().ConfigureAwait(false);
            }
            if (start is not null && await StartOneAsync(start, token).ConfigureAwait(false))
            {
                continue;
            }
            lock (_gate)
            {
                _waiting = true;
            }
            Changed();
            try
            {
                // Re-planned on every cold start, and now and then so that idle kinds shrink as their starts age.
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                var delay = Task.Delay(_options.RateWindow / 4, _time, timeout.Token);
                // One wait on the semaphore at a time: a wait abandoned when the timer won would swallow the next wake.
                wake ??= _wake.WaitAsync(token);
                await Task.WhenAny(wake, delay).ConfigureAwait(false);
                if (wake.IsCompleted)
                {
                    await wake.ConfigureAwait(false);
                    wake = null;
                }
                await timeout.CancelAsync().ConfigureAwait(false);
                lock (_gate)
                {
                    _waiting = false;
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>The kind to start one more of, if any and the memory bound allows, and the idle ones beyond their kind's size.</summary>
    private (PlaceholderKind? Start, List<T> Retire) Plan()
    {
        lock (_gate)
        {
            _planned = Volatile.Read(ref _wakes);
            foreach (var idle in _idle.Values)
            {
                idle.RemoveAll(p => p.HasExited);
            }
            var targets = Targets();
            var retire = new List<T>();
            foreach (var (kind, idle) in _idle)
            {
                var keep = targets.GetValueOrDefault(kind);
                if (idle.Count > keep)
                {
                    retire.AddRange(idle.Skip(keep));
                    idle.RemoveRange(keep, idle.Count - keep);
                }
            }
            var memory = _idle.Values.SelectMany(l => l).Sum(p => p.ResidentBytes());
            var perPlaceholder = _idle.Values.Sum(l => l.Count) is > 0 and var n ? memory / n : 0;
            if (memory + perPlaceholder > _options.MaxMemoryMiB * 1024 * 1024)
            {
                return (null, retire);
            }
            var start = targets.Where(t => t.Value > (_idle.TryGetValue(t.Key, out var l) ? l.Count : 0))
                .OrderByDescending(t => t.Value - (_idle.TryGetValue(t.Key, out var l) ? l.Count : 0))
                .Select(t => t.Key).FirstOrDefault();
            return (start, retire);
        }
    }

    /// <summary>Starts one placeholder and waits until it is ready; false when it failed, so the loop waits before trying again.</summary>
    private async Task<bool> StartOneAsync(PlaceholderKind kind, CancellationToken cancellationToken)
    {
        T placeholder;
        try
        {
            placeholder = await _start(kind, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Failed(e);
            return false;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        lock (_gate)
        {
            if (!_idle.TryGetValue(kind, out var idle))
            {
                _idle[kind] = idle = [];
            }
            idle.Add(placeholder);
        }
        try
        {
            await placeholder.Ready.WaitAsync(TimeSpan.FromMinutes(1), _time, cancellationToken).ConfigureAwait(false);
            _failures = 0;
            Changed();
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            lock (_gate)
            {
                _idle[kind].Remove(placeholder);
            }
            await placeholder.DisposeAsync().ConfigureAwait(false);
            Failed(e);
            return false;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private void Failed(Exception error)
    {
        // Said once until a placeholder starts again: a broken placeholder set-up would otherwise fill the log.
        if (Interlocked.Increment(ref _failures) == 1 && _logger is not null)
        {
            LogStartFailed(_logger, error.Message);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        List<T> all;
        lock (_gate)
        {
            all = [.. _idle.Values.SelectMany(l => l)];
            _idle.Clear();
        }
        foreach (var placeholder in all)
        {
            await placeholder.DisposeAsync().ConfigureAwait(false);
        }
        _stop.Dispose();
        _wake.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A placeholder container failed to start ({Reason}); cold starts launch new processes until one does.")]
    private static partial void LogStartFailed(ILogger logger, string reason);
}
