using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Scheduling;

namespace Ferry.Tests.Scheduling;

public sealed class FailurePolicyTests
{
    // Crash budget 2, platform budget 8, three startup failures in a row: the defaults of SchedulerOptions.
    private static readonly FailurePolicy Policy = new(new SchedulerOptions());

    private static readonly RetryPolicy TwoRetries = new(2, BackoffCoefficient: 2.0, InitialDelaySeconds: 1.0, MaxDelaySeconds: 60.0);

    [Theory]
    // reason,              started, cancelled, maxRetries, retriesUsed, internalFailures => action, charges, delay (s)
    [InlineData(ErrorKinds.Crash, false, false, -1, 0, 0, nameof(FailureAction.Requeue), false, 0.0)]
    [InlineData(ErrorKinds.Crash, false, false, 2, 2, 2, nameof(FailureAction.Requeue), false, 0.0)]
    [InlineData(ErrorKinds.Internal, false, false, -1, 0, 8, nameof(FailureAction.Requeue), false, 0.0)]
    [InlineData(ErrorKinds.OutOfMemory, false, true, -1, 0, 0, nameof(FailureAction.Requeue), false, 0.0)]
    [InlineData(ErrorKinds.Internal, true, false, -1, 0, 0, nameof(FailureAction.Requeue), true, 0.0)]
    [InlineData(ErrorKinds.Internal, true, false, -1, 0, 7, nameof(FailureAction.Requeue), true, 0.0)]
    [InlineData(ErrorKinds.Internal, true, false, -1, 0, 8, nameof(FailureAction.Fail), false, 0.0)]
    [InlineData(ErrorKinds.Internal, true, false, 2, 0, 8, nameof(FailureAction.Retry), false, 1.0)]
    [InlineData(ErrorKinds.Internal, true, false, 2, 0, 0, nameof(FailureAction.Requeue), true, 0.0)]
    [InlineData(ErrorKinds.Crash, true, false, 2, 0, 0, nameof(FailureAction.Retry), false, 1.0)]
    [InlineData(ErrorKinds.Crash, true, false, 2, 1, 0, nameof(FailureAction.Retry), false, 2.0)]
    [InlineData(ErrorKinds.Crash, true, false, 2, 2, 0, nameof(FailureAction.Requeue), true, 0.0)]
    [InlineData(ErrorKinds.Crash, true, false, 2, 2, 1, nameof(FailureAction.Requeue), true, 0.0)]
    [InlineData(ErrorKinds.Crash, true, false, 2, 2, 2, nameof(FailureAction.Fail), false, 0.0)]
    [InlineData(ErrorKinds.Crash, true, false, -1, 0, 0, nameof(FailureAction.Requeue), true, 0.0)]
    [InlineData(ErrorKinds.Crash, true, false, -1, 0, 2, nameof(FailureAction.Fail), false, 0.0)]
    [InlineData(ErrorKinds.Crash, true, true, 2, 0, 0, nameof(FailureAction.Requeue), true, 0.0)]
    [InlineData(ErrorKinds.Crash, true, true, 2, 0, 2, nameof(FailureAction.Fail), false, 0.0)]
    [InlineData(ErrorKinds.OutOfMemory, true, false, -1, 0, 0, nameof(FailureAction.Fail), false, 0.0)]
    [InlineData(ErrorKinds.OutOfMemory, true, false, 2, 1, 0, nameof(FailureAction.Retry), false, 2.0)]
    [InlineData(ErrorKinds.OutOfMemory, true, false, 2, 2, 0, nameof(FailureAction.Fail), false, 0.0)]
    [InlineData(ErrorKinds.ImageBuild, true, false, -1, 0, 0, nameof(FailureAction.Fail), false, 0.0)]
    [InlineData("stopped", true, false, -1, 0, 0, nameof(FailureAction.Fail), false, 0.0)]
    [InlineData("stopped", true, false, 2, 0, 0, nameof(FailureAction.Retry), false, 1.0)]
    public void OnContainerExited_ReasonAndBudgets_DecidesExactly(
        string reason, bool started, bool cancelled, int maxRetries, int retriesUsed, int internalFailures,
        string action, bool charges, double delaySeconds)
    {
        var facts = new InputFailureFacts(started, cancelled, maxRetries < 0 ? null : TwoRetries with { MaxRetries = maxRetries }, retriesUsed, internalFailures);

        Policy.OnContainerExited(reason, facts)
            .Should().Be(new FailureDecision(Enum.Parse<FailureAction>(action), charges, TimeSpan.FromSeconds(delaySeconds)));
    }

    [Theory]
    // maxRetries, retriesUsed, cancelled => action, delay (s); the delay doubles from 1 s and stops at the 4 s maximum
    [InlineData(-1, 0, false, nameof(FailureAction.Fail), 0.0)]
    [InlineData(0, 0, false, nameof(FailureAction.Fail), 0.0)]
    [InlineData(5, 0, false, nameof(FailureAction.Retry), 1.0)]
    [InlineData(5, 1, false, nameof(FailureAction.Retry), 2.0)]
    [InlineData(5, 2, false, nameof(FailureAction.Retry), 4.0)]
    [InlineData(5, 4, false, nameof(FailureAction.Retry), 4.0)]
    [InlineData(5, 5, false, nameof(FailureAction.Fail), 0.0)]
    [InlineData(5, 0, true, nameof(FailureAction.Fail), 0.0)]
    public void OnFailed_UserErrorOrTimeout_RetriesWithinThePolicyOnly(int maxRetries, int retriesUsed, bool cancelled, string action, double delaySeconds)
    {
        var retries = maxRetries < 0 ? null : new RetryPolicy(maxRetries, BackoffCoefficient: 2.0, InitialDelaySeconds: 1.0, MaxDelaySeconds: 4.0);

        FailurePolicy.OnFailed(new InputFailureFacts(true, cancelled, retries, retriesUsed, 0))
            .Should().Be(new FailureDecision(Enum.Parse<FailureAction>(action), false, TimeSpan.FromSeconds(delaySeconds)));
    }

    [Theory]
    // wasStarting, reason, errorKind, failuresInRow => action
    [InlineData(false, ErrorKinds.Crash, ErrorKinds.Crash, 0, nameof(StartupFailureAction.None))]
    [InlineData(false, ErrorKinds.Crash, ErrorKinds.Crash, 2, nameof(StartupFailureAction.None))]
    [InlineData(true, "stopped", ErrorKinds.Crash, 2, nameof(StartupFailureAction.None))]
    [InlineData(true, ErrorKinds.Internal, ErrorKinds.Internal, 2, nameof(StartupFailureAction.None))]
    [InlineData(true, ErrorKinds.Crash, ErrorKinds.Crash, 0, nameof(StartupFailureAction.Count))]
    [InlineData(true, ErrorKinds.Crash, ErrorKinds.Crash, 1, nameof(StartupFailureAction.Count))]
    [InlineData(true, ErrorKinds.Crash, ErrorKinds.Crash, 2, nameof(StartupFailureAction.FailQueued))]
    [InlineData(true, ErrorKinds.OutOfMemory, ErrorKinds.OutOfMemory, 1, nameof(StartupFailureAction.Count))]
    [InlineData(true, ErrorKinds.ImageBuild, ErrorKinds.ImageBuild, 0, nameof(StartupFailureAction.FailQueued))]
    [InlineData(true, ErrorKinds.EnterFailed, ErrorKinds.EnterFailed, 0, nameof(StartupFailureAction.FailQueued))]
    public void OnContainerExitedForPool_StartupFailures_FailTheQueueAtTheLimit(bool wasStarting, string reason, string errorKind, int failuresInRow, string action) =>
        Policy.OnContainerExitedForPool(wasStarting, reason, errorKind, failuresInRow).Should().Be(Enum.Parse<StartupFailureAction>(action));

    [Theory]
    [InlineData(ErrorKinds.OutOfMemory, null, 512, "OutOfMemory", ErrorKinds.OutOfMemory, "The container ran out of memory (limit 512 MiB) and was killed.")]
    [InlineData(ErrorKinds.OutOfMemory, null, null, "OutOfMemory", ErrorKinds.OutOfMemory, "The container ran out of memory and was killed.")]
    [InlineData(ErrorKinds.Internal, null, null, "PlatformError", ErrorKinds.Internal, "The container's worker went away.")]
    [InlineData(ErrorKinds.Internal, "The worker disconnected.", null, "PlatformError", ErrorKinds.Internal, "The worker disconnected.")]
    [InlineData(ErrorKinds.ImageBuild, "step 2 failed", null, "ImageBuildError", ErrorKinds.ImageBuild, "step 2 failed")]
    [InlineData(ErrorKinds.Crash, "exit code 137", null, "ContainerCrashed", ErrorKinds.Crash, "The container exited unexpectedly: exit code 137.")]
    [InlineData("stopped", null, null, "ContainerCrashed", ErrorKinds.Crash, "The container exited unexpectedly.")]
    public void ExitError_Reason_NamesTheCause(string reason, string? detail, int? memoryMiB, string type, string kind, string message) =>
        FailurePolicy.ExitError(reason, detail, memoryMiB).Should().Be(new RemoteError(type, message, null, kind));

    [Theory]
    [InlineData(ErrorKinds.Crash)]
    [InlineData(ErrorKinds.Internal)]
    [InlineData(ErrorKinds.OutOfMemory)]
    [InlineData(ErrorKinds.Timeout)]
    public void OnContainerExited_StartedGeneratorInput_FailsWhateverItsBudgets(string reason)
    {
        var started = new InputFailureFacts(true, false, TwoRetries, 0, 0, Generator: true);
        var queued = started with { Started = false };

        Policy.OnContainerExited(reason, started).Should().Be(FailureDecision.Fail);
        Policy.OnContainerExited(reason, queued).Should().Be(FailureDecision.Requeue, "an input that never started sent no items");
        FailurePolicy.OnFailed(started).Should().Be(FailureDecision.Fail, "a generator is never retried");
    }
}
