using Ferry.Protocol;

namespace Ferry.Server.Scheduling;

/// <summary>What happens to an input whose attempt did not produce an output.</summary>
internal enum FailureAction
{
    /// <summary>Back to the front of its pool's queue at once, without using one of the function's retries.</summary>
    Requeue,

    /// <summary>Queued again after the function's retry delay, using one of its retries.</summary>
    Retry,

    /// <summary>Completed with the error: the caller gets it.</summary>
    Fail,
}

/// <summary>
/// A decision of the <see cref="FailurePolicy"/>. <paramref name="ChargesPlatformBudget"/> says the requeue counts
/// toward the input's platform and crash budgets (<see cref="InputState.InternalFailures"/>); <paramref name="Delay"/>
/// is the wait before a <see cref="FailureAction.Retry"/>.
/// </summary>
internal readonly record struct FailureDecision(FailureAction Action, bool ChargesPlatformBudget = false, TimeSpan Delay = default)
{
    public static FailureDecision Requeue => new(FailureAction.Requeue);

    public static FailureDecision Fail => new(FailureAction.Fail);
}

/// <summary>
/// What the policy needs to know about an input: whether it started, the budgets it has used, and whether it is a
/// generator's, whose items would repeat if it ran again.
/// </summary>
internal readonly record struct InputFailureFacts(bool Started, bool CallCancelled, RetryPolicy? Retries, int RetriesUsed, int InternalFailures, bool Generator = false)
{
    public static InputFailureFacts Of(InputState input) => new(
        input.StartedAt != DateTimeOffset.MaxValue, input.Call.Cancelled, input.Call.Pool.Settings.Retries, input.RetriesUsed, input.InternalFailures,
        input.Call.Record.Kind == CallKinds.Stream);
}

/// <summary>What to do about a pool whose container failed before it became ready.</summary>
internal enum StartupFailureAction
{
    /// <summary>Not a startup failure (the container was ready, stopped on purpose, or lost with its worker).</summary>
    None,

    /// <summary>Counted: the pool's next container may still start.</summary>
    Count,

    /// <summary>The pool's queued inputs fail with the reason, and its count starts again.</summary>
    FailQueued,
}

/// <summary>
/// Decides, from an exit reason and the budgets an input has used, whether it runs again at once, runs again after the
/// function's retry delay, or fails. It holds no state and does nothing itself: the scheduler applies its decisions.
/// </summary>
/// <remarks>
/// The order of the rules matters. An input that never started was not the cause of anything, so it always runs again.
/// A generator's input that started never runs again. A lost worker is the platform's fault and is retried from the
/// platform budget first. Otherwise the function's own retries come first, and a crash gets a few immediate re-runs on
/// top once they are spent.
/// </remarks>
internal sealed class FailurePolicy(int crashRetryBudget, int platformRetryBudget, int startupFailureLimit)
{
    public FailurePolicy(SchedulerOptions options)
        : this(options.CrashRetryBudget, options.PlatformRetryBudget, options.StartupFailureLimit)
    {
    }

    /// <summary>Containers of one pool that may fail to start in a row before its queued inputs fail.</summary>
    public int StartupFailureLimit => startupFailureLimit;

    /// <summary>An input the function failed (it threw, or ran past its timeout): retried per its policy, else failed.</summary>
    public static FailureDecision OnFailed(InputFailureFacts input) =>
        CanRetry(input, out var delay) ? new FailureDecision(FailureAction.Retry, Delay: delay) : FailureDecision.Fail;

    /// <summary>An input held by a container that exited for <paramref name="reason"/> (an <see cref="ErrorKinds"/> value or "stopped").</summary>
    public FailureDecision OnContainerExited(string reason, InputFailureFacts input)
    {
        if (!input.Started)
        {
            // Queued in the container but never started: whatever ended the container, it is not this input's doing.
            return FailureDecision.Requeue;
        }
        if (input.Generator)
        {
            // Its items have gone to the caller; running it again would send them again from the first (Modal does not
            // retry generators either).
            return FailureDecision.Fail;
        }
        if (reason == ErrorKinds.Internal && input.InternalFailures < platformRetryBudget)
        {
            return new FailureDecision(FailureAction.Requeue, ChargesPlatformBudget: true);
        }
        if (CanRetry(input, out var delay))
        {
            return new FailureDecision(FailureAction.Retry, Delay: delay);
        }
        if (reason == ErrorKinds.Crash && input.InternalFailures < crashRetryBudget)
        {
            return new FailureDecision(FailureAction.Requeue, ChargesPlatformBudget: true);
        }
        return FailureDecision.Fail;
    }

    /// <summary>
    /// A container exited; <paramref name="wasStarting"/> says it never became ready, <paramref name="failuresInRow"/>
    /// counts the pool's earlier startup failures in a row. An image that failed to build fails the queue at once:
    /// building it again would only repeat the failure.
    /// </summary>
    public StartupFailureAction OnContainerExitedForPool(bool wasStarting, string reason, string errorKind, int failuresInRow)
    {
        if (!wasStarting || reason == "stopped" || reason == ErrorKinds.Internal)
        {
            return StartupFailureAction.None;
        }
        if (errorKind is ErrorKinds.ImageBuild or ErrorKinds.EnterFailed)
        {
            // Building the image again, or running the same enter hook again, would only repeat the failure.
            return StartupFailureAction.FailQueued;
        }
        return failuresInRow + 1 < startupFailureLimit ? StartupFailureAction.Count : StartupFailureAction.FailQueued;
    }

    /// <summary>The error an input gets when its container exits for <paramref name="reason"/>.</summary>
    public static RemoteError ExitError(string reason, string? detail, int? memoryLimitMiB) => reason switch
    {
        ErrorKinds.OutOfMemory => new RemoteError("OutOfMemory", $"The container ran out of memory{(memoryLimitMiB is { } m ? $" (limit {m} MiB)" : "")} and was killed.", null, ErrorKinds.OutOfMemory),
        ErrorKinds.Internal => new RemoteError("PlatformError", detail ?? "The container's worker went away.", null, ErrorKinds.Internal),
        ErrorKinds.ImageBuild => new RemoteError("ImageBuildError", detail ?? "The function's image could not be built.", null, ErrorKinds.ImageBuild),
        _ => new RemoteError("ContainerCrashed", $"The container exited unexpectedly{(detail is null ? "" : ": " + detail)}.", null, ErrorKinds.Crash),
    };

    private static bool CanRetry(InputFailureFacts input, out TimeSpan delay)
    {
        if (input.CallCancelled || input.Generator || input.Retries is not { } policy || input.RetriesUsed >= policy.MaxRetries)
        {
            delay = default;
            return false;
        }
        delay = policy.DelayFor(input.RetriesUsed + 1);
        return true;
    }
}
