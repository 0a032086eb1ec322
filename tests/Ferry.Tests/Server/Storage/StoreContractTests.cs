using FluentAssertions;
using Ferry.Protocol;
using Ferry.Server.Storage;

namespace Ferry.Tests.Storage;

/// <summary>
/// What every <see cref="IStore"/> does, whatever its database. Each concrete subclass runs every scenario against one
/// implementation, on an empty store of its own per test.
/// </summary>
/// <remarks>
/// One region per interface of the store, in the order <see cref="IStore"/> lists them, then the promises that hold
/// across all of them (durability, commit order, group commit). A scenario reaches the store through the interface it
/// is about (<see cref="Apps"/>, <see cref="Calls"/>, ...), so it exercises only what that interface promises. An
/// aggregate added to the store adds its interface and a region here.
/// </remarks>
public abstract partial class StoreContractTests : IAsyncLifetime
{
    protected static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, 123, TimeSpan.Zero);
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    private IStore? _store;

    private protected IStore Store => _store!;

    private IAppStore Apps => Store;

    private ICallStore Calls => Store;

    private ILogStore Logs => Store;

    private IImageStore Images => Store;

    private ITokenStore Tokens => Store;

    private IRetentionStore Retention => Store;

    /// <summary>A new store object on this test's location; not yet initialized.</summary>
    private protected abstract IStore CreateStore();

    /// <summary>Prepares this test's empty location.</summary>
    protected virtual Task PrepareAsync() => Task.CompletedTask;

    /// <summary>Makes the database refuse, from now on, to save a token named <paramref name="name"/>.</summary>
    protected abstract Task RefuseTokenNamedAsync(string name);

    public async Task InitializeAsync()
    {
        await PrepareAsync();
        _store = await OpenAsync();
    }

    private protected async Task<IStore> OpenAsync()
    {
        var store = CreateStore();
        await store.InitializeAsync(CancellationToken.None).WaitAsync(Limit);
        return store;
    }

    /// <summary>Closes the store and opens it again on the same location, as a restarted server does.</summary>
    private protected async Task ReopenAsync()
    {
        await Store.DisposeAsync();
        _store = await OpenAsync();
    }

    public virtual async Task DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
    }

    private static CallRecord Call(string callId, string appId = "ap-1", bool final = false, DateTimeOffset? createdAt = null, PoolSpec? pool = null) =>
        new(callId, appId, "square", "square", "map", createdAt ?? T0, final, pool);

    private static InputRecord Input(long id, string callId, int index, string? args = null, string? blob = null) =>
        new(id, callId, index, args ?? $"[{index}]", blob);

    private static CompletionRecord Done(long inputId, long order, DateTimeOffset? at = null, RemoteError? error = null) =>
        new(inputId, order, error is null, error is null ? $"{order * 10}" : null, null, error, at ?? T0);

    private static AppRecord App(string appId, DateTimeOffset createdAt, string state = AppStates.Running, DateTimeOffset? stoppedAt = null) =>
        new(appId, "app-" + appId, "bd-1", state, false, createdAt, stoppedAt, null);

    /// <summary>Saves a call with inputs of indices 0..count-1 and ids firstId.., completes all of them at <paramref name="at"/>.</summary>
    private async Task AddFinishedCallAsync(string callId, string appId, long firstId, int count, DateTimeOffset at)
    {
        await Calls.AddInputsAsync(Call(callId, appId, final: true, createdAt: at), [.. Enumerable.Range(0, count).Select(i => Input(firstId + i, callId, i))], default);
        await Calls.CompleteInputsAsync([.. Enumerable.Range(0, count).Select(i => Done(firstId + i, firstId + i, at))], default);
    }

    #region IAppStore: builds and apps

    // A build id names one manifest; an app is saved whole and listed in creation order.

    [StoreFact]
    public async Task GetBuild_AfterSaveBuild_ReturnsTheManifestAndAnUnknownIdIsNull()
    {
        var build = new BuildManifest("bd-1", "App.dll", [new BuildFile("App.dll", "sha256:aa", 10), new BuildFile("lib/X.dll", "sha256:bb", 20)]);

        await Apps.SaveBuildAsync(build, default);
        await Apps.SaveBuildAsync(build with { EntryAssembly = "Other.dll" }, default);

        (await Apps.GetBuildAsync("bd-1", default)).Should().BeEquivalentTo(build, "a build id names one manifest; saving it again changes nothing");
        (await Apps.GetBuildAsync("bd-none", default)).Should().BeNull();
    }

    [StoreFact]
    public async Task ListApps_AfterSavesAndUpdates_ReturnsTheLatestOfEachInCreationOrder()
    {
        var definition = new AppDefinition("hello",
            [new FunctionDefinition("square", [new ParameterDefinition("x", "int", true)], "int", new FunctionSettings { TimeoutSeconds = 12, MaxContainers = 3 })],
            [new EntrypointDefinition("Main", [])]);
        await Apps.SaveAppAsync(App("ap-2", T0.AddMinutes(5)), default);
        await Apps.SaveAppAsync(App("ap-1", T0), default);

        await Apps.SaveAppAsync(new AppRecord("ap-1", "renamed", "bd-2", AppStates.Stopped, true, T0.AddDays(1), T0.AddHours(1), definition), default);
        var apps = await Apps.ListAppsAsync(default);

        apps.Select(a => a.AppId).Should().Equal("ap-1", "ap-2");
        apps[0].Should().BeEquivalentTo(new AppRecord("ap-1", "renamed", "bd-2", AppStates.Stopped, true, T0, T0.AddHours(1), definition),
            "an update changes everything but the creation time");
        apps[1].Should().Be(App("ap-2", T0.AddMinutes(5)));
    }

    #endregion

    #region ICallStore: calls, inputs and outputs

    // Adds are idempotent by (call, index), an input's first outcome is final, outputs come back in completion order, and the sequence seeds are the largest stored values.

    [StoreFact]
    public async Task AddInputs_NewCall_SavesTheCallAndItsInputsAsPending()
    {
        var pool = new PoolSpec(Overrides: new FunctionSettings { TimeoutSeconds = 5 });
        var call = Call("fc-1", pool: pool);

        await Calls.AddInputsAsync(call, [Input(1, "fc-1", 0), Input(2, "fc-1", 1, args: null, blob: "blob-1")], default);
        var pending = await Calls.LoadPendingInputsAsync(default);

        (await Calls.GetCallAsync("fc-1", default)).Should().BeEquivalentTo(call);
        (await Calls.GetCallAsync("fc-none", default)).Should().BeNull();
        pending.Select(p => (p.Input, p.Attempt)).Should().Equal((Input(1, "fc-1", 0), 0), (Input(2, "fc-1", 1, args: null, blob: "blob-1"), 0));
        pending.Select(p => p.Call).Should().AllBeEquivalentTo(call);
    }

    [StoreFact]
    public async Task AddInputs_IndicesAlreadyPresent_AreIgnoredAndTheCallIsNotRewritten()
    {
        await Calls.AddInputsAsync(Call("fc-1"), [Input(1, "fc-1", 0), Input(2, "fc-1", 1)], default);

        await Calls.AddInputsAsync(Call("fc-1", final: true, createdAt: T0.AddDays(1)), [Input(3, "fc-1", 1, args: "[\"again\"]"), Input(4, "fc-1", 2)], default);

        (await Calls.LoadPendingInputsAsync(default)).Select(p => p.Input).Should().Equal(Input(1, "fc-1", 0), Input(2, "fc-1", 1), Input(4, "fc-1", 2));
        (await Calls.GetCallAsync("fc-1", default)).Should().BeEquivalentTo(Call("fc-1"));
        (await Calls.CountInputsAsync("fc-1", default)).Should().Be((3, 0));
    }

    [StoreFact]
    public async Task SetFinal_MarksTheCallFinal()
    {
        await Calls.AddInputsAsync(Call("fc-1"), [Input(1, "fc-1", 0)], default);

        await Calls.SetFinalAsync("fc-1", default);

        (await Calls.GetCallAsync("fc-1", default))!.Final.Should().BeTrue();
    }

    [StoreFact]
    public async Task CompleteInputs_RecordsOutcomesOnceAndLeavesTheRestPending()
    {
        await Calls.AddInputsAsync(Call("fc-1"), [Input(1, "fc-1", 0), Input(2, "fc-1", 1), Input(3, "fc-1", 2)], default);
        var error = new RemoteError("System.InvalidOperationException", "no", "at X()", ErrorKinds.User);

        await Calls.CompleteInputsAsync([Done(3, 1, T0.AddSeconds(1)), Done(1, 2, T0.AddSeconds(2), error)], default);
        await Calls.CompleteInputsAsync([Done(3, 7, T0.AddSeconds(9), error)], default);

        (await Calls.LoadPendingInputsAsync(default)).Select(p => p.Input.InputId).Should().Equal(2);
        (await Calls.GetOutputsAsync("fc-1", 0, 10, default)).Should().BeEquivalentTo(
            new[] { new StoredOutput(2, 1, true, "10", null, null), new StoredOutput(0, 2, false, null, null, error) },
            o => o.WithStrictOrdering(), "an input's first outcome is final");
        (await Calls.CountInputsAsync("fc-1", default)).Should().Be((3, 2));
        (await Calls.CountFailedAsync("fc-1", default)).Should().Be(1, "the later failure of input 3 does not replace its success");
    }

    [StoreFact]
    public async Task LoadPendingInputs_AfterSetAttempt_ReturnsTheAttempt()
    {
        await Calls.AddInputsAsync(Call("fc-1"), [Input(1, "fc-1", 0), Input(2, "fc-1", 1)], default);

        await Calls.SetAttemptAsync(2, 3, default);

        (await Calls.LoadPendingInputsAsync(default)).Select(p => (p.Input.InputId, p.Attempt)).Should().Equal((1, 0), (2, 3));
    }

    [StoreFact]
    public async Task LoadPendingInputs_ManyCalls_ReturnsUnfinishedInputsInIdOrderWithTheirCalls()
    {
        await Calls.AddInputsAsync(Call("fc-b", appId: "ap-2"), [Input(2, "fc-b", 0), Input(5, "fc-b", 1)], default);
        await Calls.AddInputsAsync(Call("fc-a"), [Input(1, "fc-a", 0), Input(4, "fc-a", 1), Input(3, "fc-a", 2)], default);
        await Calls.CompleteInputsAsync([Done(4, 1), Done(2, 2)], default);

        var pending = await Calls.LoadPendingInputsAsync(default);

        pending.Select(p => (p.Input.InputId, p.Input.CallId, p.Call.CallId, p.Call.AppId)).Should().Equal(
            (1, "fc-a", "fc-a", "ap-1"), (3, "fc-a", "fc-a", "ap-1"), (5, "fc-b", "fc-b", "ap-2"));
    }

    [StoreFact]
    public async Task LoadCall_ReturnsOutputsInCompletionOrderAndEveryIndexUnfinishedFirst()
    {
        await Calls.AddInputsAsync(Call("fc-1"), [.. Enumerable.Range(0, 5).Select(i => Input(i + 1, "fc-1", i))], default);
        await Calls.CompleteInputsAsync([Done(4, 10), Done(2, 11)], default);
        await Calls.CompleteInputsAsync([Done(5, 12)], default);

        var (outputs, indices) = await Calls.LoadCallAsync("fc-1", default);

        outputs.Select(o => (o.Index, o.Order, o.Result)).Should().Equal((3, 10, "100"), (1, 11, "110"), (4, 12, "120"));
        indices.Should().Equal(0, 2, 3, 1, 4);
        var (none, noIndices) = await Calls.LoadCallAsync("fc-none", default);
        none.Should().BeEmpty();
        noIndices.Should().BeEmpty();
    }

    [StoreFact]
    public async Task CountInputs_CountsAllAndFinishedInputs()
    {
        await Calls.AddInputsAsync(Call("fc-1"), [Input(1, "fc-1", 0), Input(2, "fc-1", 1), Input(3, "fc-1", 2)], default);
        await Calls.AddInputsAsync(Call("fc-2"), [Input(4, "fc-2", 0)], default);
        await Calls.CompleteInputsAsync([Done(1, 1), Done(4, 2)], default);

        (await Calls.CountInputsAsync("fc-1", default)).Should().Be((3, 1));
        (await Calls.CountInputsAsync("fc-2", default)).Should().Be((1, 1));
        (await Calls.CountInputsAsync("fc-none", default)).Should().Be((0, 0));
    }

    [StoreFact]
    public async Task WasCancelled_IsTrueOnlyWhenAnInputEndedCancelled()
    {
        await Calls.AddInputsAsync(Call("fc-1"), [Input(1, "fc-1", 0), Input(2, "fc-1", 1)], default);
        await Calls.AddInputsAsync(Call("fc-2"), [Input(3, "fc-2", 0), Input(4, "fc-2", 1)], default);
        await Calls.CompleteInputsAsync([Done(1, 1), Done(2, 2, error: new RemoteError("Timeout", "took too long", Kind: ErrorKinds.Timeout))], default);
        await Calls.CompleteInputsAsync([Done(3, 3), Done(4, 4, error: new RemoteError("Cancelled", "The call was cancelled.", Kind: ErrorKinds.Cancelled))], default);

        (await Calls.WasCancelledAsync("fc-1", default)).Should().BeFalse();
        (await Calls.WasCancelledAsync("fc-2", default)).Should().BeTrue();
        (await Calls.WasCancelledAsync("fc-none", default)).Should().BeFalse();
    }

    [StoreFact]
    public async Task GetOutputs_PagesAfterAPositionInCompletionOrder()
    {
        await Calls.AddInputsAsync(Call("fc-1"), [.. Enumerable.Range(0, 5).Select(i => Input(i + 1, "fc-1", i))], default);
        await Calls.AddInputsAsync(Call("fc-2"), [Input(6, "fc-2", 0)], default);
        await Calls.CompleteInputsAsync([Done(3, 1), Done(6, 2), Done(5, 3)], default);
        await Calls.CompleteInputsAsync([Done(1, 4), Done(2, 5), Done(4, 6)], default);

        var pages = new List<IReadOnlyList<StoredOutput>>();
        for (var after = 0; after <= 6; after += 2)
        {
            pages.Add(await Calls.GetOutputsAsync("fc-1", after, 2, default));
        }

        pages.Select(p => p.Select(o => (o.Index, o.Order)).ToList()).Should().BeEquivalentTo(
            new[] { new[] { (2, 1L), (4, 3L) }, [(0, 4L), (1, 5L)], [(3, 6L)], [] }, o => o.WithStrictOrdering());
        (await Calls.GetOutputsAsync("fc-1", 1, 100, default)).Select(o => o.Index).Should().Equal(4, 0, 1, 3);
    }

    [StoreFact]
    public async Task MaxInputIdAndMaxCompletionOrder_AreZeroWhenEmptyThenTheLargestStored()
    {
        (await Calls.MaxInputIdAsync(default)).Should().Be(0);
        (await Calls.MaxCompletionOrderAsync(default)).Should().Be(0);

        await Calls.AddInputsAsync(Call("fc-1"), [Input(41, "fc-1", 0), Input(7, "fc-1", 1)], default);
        await Calls.AddInputsAsync(Call("fc-2"), [Input(12, "fc-2", 0)], default);
        await Calls.CompleteInputsAsync([Done(7, 9), Done(12, 3)], default);

        (await Calls.MaxInputIdAsync(default)).Should().Be(41);
        (await Calls.MaxCompletionOrderAsync(default)).Should().Be(9);
    }

    #endregion

    #region ILogStore: app logs

    // Appends are idempotent by sequence number; reads page in sequence order.

    [StoreFact]
    public async Task GetLogs_ReturnsLinesAfterASequenceUpToALimit()
    {
        LogEntry Line(long seq, string? container = "ct-1") => new(seq, T0.AddSeconds(seq), LogStreams.Stdout, $"line {seq}", "square", container);
        await Logs.AppendLogsAsync("ap-1", [Line(1), Line(2), Line(3, container: null)], default);
        await Logs.AppendLogsAsync("ap-1", [Line(3, container: "ct-ignored") with { Text = "again" }, Line(4, container: "ct-2")], default);
        await Logs.AppendLogsAsync("ap-2", [Line(1, container: "ct-9")], default);

        (await Logs.GetLogsAsync("ap-1", 1, 2, default)).Should().Equal(Line(2), Line(3, container: null));
        (await Logs.GetLogsAsync("ap-1", 0, 100, default)).Select(l => l.Seq).Should().Equal(1, 2, 3, 4);
        (await Logs.GetLogsAsync("ap-1", 4, 100, default)).Should().BeEmpty();
        (await Logs.MaxLogSeqAsync("ap-1", default)).Should().Be(4);
        (await Logs.MaxLogSeqAsync("ap-none", default)).Should().Be(0);
        (await Logs.FindAppOfContainerAsync("ct-2", default)).Should().Be("ap-1");
        (await Logs.FindAppOfContainerAsync("ct-9", default)).Should().Be("ap-2");
        (await Logs.FindAppOfContainerAsync("ct-none", default)).Should().BeNull();
    }

    #endregion

    #region IImageStore: the image registry

    // One entry per image and worker; only a build counts as one.

    [StoreFact]
    public async Task ListImages_CountsBuildsPerWorkerAndListsTheLastUsedFirst()
    {
        var image = new ImageBuilt("im-1", 3, 2, 4.5, ["debian_slim", "apt_install jq"]);
        await Images.RecordImageAsync("wk-1", image, T0, default);
        await Images.RecordImageAsync("wk-2", image with { Seconds = 1.5 }, T0.AddMinutes(1), default);
        await Images.RecordImageAsync("wk-1", image with { Seconds = 6.25 }, T0.AddMinutes(2), default);
        await Images.RecordImageAsync("wk-1", image with { BuiltLayers = 0, Seconds = 0.01 }, T0.AddMinutes(3), default);

        var images = await Images.ListImagesAsync(default);

        images.Should().BeEquivalentTo(new[]
        {
            new ImageSummary("im-1", "wk-1", 3, ["debian_slim", "apt_install jq"], T0, T0.AddMinutes(3), 2, 6.25),
            new ImageSummary("im-1", "wk-2", 3, ["debian_slim", "apt_install jq"], T0.AddMinutes(1), T0.AddMinutes(1), 1, 1.5),
        }, o => o.WithStrictOrdering(), "a use without a build moves the last use only");
    }

    #endregion

    #region ITokenStore: credentials

    // A saved token keeps everything but its revocation; tokens are listed in creation order.

    [StoreFact]
    public async Task ListTokens_AfterSaveAndRevoke_ShowsTheRevocationInCreationOrder()
    {
        var client = new TokenRecord("tk-1", "laptop", TokenKinds.Client, "hash-1", T0.AddMinutes(1), null);
        var worker = new TokenRecord("tk-2", "gpu-box", TokenKinds.Worker, "hash-2", T0, null);
        await Tokens.SaveTokenAsync(client, default);
        await Tokens.SaveTokenAsync(worker, default);

        await Tokens.SaveTokenAsync(client with { Name = "ignored", RevokedAt = T0.AddHours(2) }, default);

        (await Tokens.ListTokensAsync(default)).Should().Equal(worker, client with { RevokedAt = T0.AddHours(2) });
    }

    #endregion

    #region IRetentionStore: deleting what expired

    // What finished before the cutoff goes, across calls, logs and apps, in bounded batches.

    [StoreFact]
    public async Task DeleteExpired_DeletesCallsWhoseInputsAllCompletedBeforeTheCutoff()
    {
        var cutoff = T0.AddDays(7);
        await AddFinishedCallAsync("fc-old", "ap-1", 1, 3, T0);
        await Calls.AddInputsAsync(Call("fc-straddles", final: true), [Input(10, "fc-straddles", 0), Input(11, "fc-straddles", 1)], default);
        await Calls.CompleteInputsAsync([Done(10, 10, T0), Done(11, 11, cutoff)], default);
        await Calls.AddInputsAsync(Call("fc-unfinished", final: true), [Input(20, "fc-unfinished", 0), Input(21, "fc-unfinished", 1)], default);
        await Calls.CompleteInputsAsync([Done(20, 20, T0)], default);
        await Calls.AddInputsAsync(Call("fc-open"), [Input(30, "fc-open", 0)], default);
        await Calls.CompleteInputsAsync([Done(30, 30, T0)], default);
        await Calls.AddInputsAsync(Call("fc-empty-new", final: true, createdAt: cutoff.AddSeconds(1)), [], default);
        await Calls.AddInputsAsync(Call("fc-empty-old", final: true), [], default);

        var first = await Retention.DeleteExpiredAsync(cutoff, default);
        var second = await Retention.DeleteExpiredAsync(cutoff, default);

        first.Should().Be((2, 0));
        second.Should().Be((0, 0));
        (await Calls.GetCallAsync("fc-old", default)).Should().BeNull();
        (await Calls.GetCallAsync("fc-empty-old", default)).Should().BeNull();
        (await Calls.CountInputsAsync("fc-old", default)).Should().Be((0, 0));
        foreach (var kept in new[] { "fc-straddles", "fc-unfinished", "fc-open", "fc-empty-new" })
        {
            (await Calls.GetCallAsync(kept, default)).Should().NotBeNull(kept + " has work at or after the cutoff, or may still get inputs");
        }
        (await Calls.CountInputsAsync("fc-unfinished", default)).Should().Be((2, 1));
    }

    [StoreFact]
    public async Task DeleteExpired_DeletesLogLinesAndStoppedAppsBeforeTheCutoffWithTheirCallsAndLogs()
    {
        var cutoff = T0.AddDays(7);
        LogEntry Line(long seq, DateTimeOffset at) => new(seq, at, LogStreams.Stdout, $"line {seq}", "square", "ct-1");
        await Apps.SaveAppAsync(App("ap-stopped", T0, AppStates.Stopped, stoppedAt: cutoff.AddSeconds(-1)), default);
        await Apps.SaveAppAsync(App("ap-stopped-late", T0.AddSeconds(1), AppStates.Stopped, stoppedAt: cutoff), default);
        await Apps.SaveAppAsync(App("ap-running", T0.AddSeconds(2)), default);
        await Calls.AddInputsAsync(Call("fc-of-stopped", appId: "ap-stopped"), [Input(1, "fc-of-stopped", 0)], default);
        await Calls.AddInputsAsync(Call("fc-of-running", appId: "ap-running"), [Input(2, "fc-of-running", 0)], default);
        await Logs.AppendLogsAsync("ap-stopped", [Line(1, cutoff.AddDays(1))], default);
        await Logs.AppendLogsAsync("ap-running", [Line(1, T0), Line(2, cutoff.AddSeconds(-1)), Line(3, cutoff)], default);

        var deleted = await Retention.DeleteExpiredAsync(cutoff, default);

        deleted.Should().Be((1, 1));
        (await Apps.ListAppsAsync(default)).Select(a => a.AppId).Should().Equal("ap-stopped-late", "ap-running");
        (await Calls.GetCallAsync("fc-of-stopped", default)).Should().BeNull("a stopped app's calls go with it, finished or not");
        (await Calls.LoadPendingInputsAsync(default)).Select(p => p.Input.InputId).Should().Equal(2);
        (await Logs.GetLogsAsync("ap-stopped", 0, 100, default)).Should().BeEmpty();
        (await Logs.GetLogsAsync("ap-running", 0, 100, default)).Select(l => l.Seq).Should().Equal(3);
        (await Retention.DeleteExpiredAsync(cutoff, default)).Should().Be((0, 0));
    }

    [StoreFact]
    public async Task DeleteExpired_TakesABoundedBatchOfCallsAndTheAppWithItsLastCall()
    {
        var cutoff = T0.AddDays(7);
        const int calls = (2 * IRetentionStore.ExpiredCallsPerBatch) + 50;
        await Apps.SaveAppAsync(App("ap-1", T0, AppStates.Stopped, stoppedAt: T0), default);
        await Task.WhenAll(Enumerable.Range(0, calls).Select(i =>
            Calls.AddInputsAsync(Call($"fc-{i}", appId: "ap-1", final: true), [Input(i + 1, $"fc-{i}", 0)], default))).WaitAsync(Limit);

        var batches = new List<(int Calls, int Apps)>();
        do
        {
            batches.Add(await Retention.DeleteExpiredAsync(cutoff, default));
        }
        while (batches[^1].Calls > 0 && batches.Count < 10);

        batches.Should().Equal((IRetentionStore.ExpiredCallsPerBatch, 0), (IRetentionStore.ExpiredCallsPerBatch, 0), (50, 1), (0, 0));
        (await Apps.ListAppsAsync(default)).Should().BeEmpty();
        (await Calls.MaxInputIdAsync(default)).Should().Be(0);
    }

    #endregion

    #region IStore: durability and group commit, across every interface

    // A write returns once committed, writes commit in issue order, and a write that fails fails alone.

    [StoreFact]
    public async Task Reopen_KeepsEveryCommittedWrite()
    {
        await Store.SaveTokenAsync(new TokenRecord("tk-1", "laptop", TokenKinds.Client, "hash", T0, null), default);
        await Store.SaveAppAsync(App("ap-1", T0), default);
        await Store.AddInputsAsync(Call("fc-1"), [Input(1, "fc-1", 0), Input(2, "fc-1", 1)], default);
        await Store.CompleteInputsAsync([Done(2, 5)], default);

        await ReopenAsync();

        (await Store.ListTokensAsync(default)).Select(t => t.TokenId).Should().Equal("tk-1");
        (await Store.ListAppsAsync(default)).Select(a => a.AppId).Should().Equal("ap-1");
        (await Store.LoadPendingInputsAsync(default)).Select(p => p.Input.InputId).Should().Equal(1);
        (await Store.MaxInputIdAsync(default)).Should().Be(2);
        (await Store.MaxCompletionOrderAsync(default)).Should().Be(5);
    }

    [StoreFact]
    public async Task CompleteInputs_IssuedInOrderWithoutWaiting_CommitInThatOrder()
    {
        const int count = 300;
        await Store.AddInputsAsync(Call("fc-1"), [.. Enumerable.Range(0, count).Select(i => Input(i + 1, "fc-1", i))], default);
        var writes = new Task[count];
        var checks = new Task<string?>[count];

        for (var i = 0; i < count; i++)
        {
            writes[i] = Store.CompleteInputsAsync([Done(i + 1, i + 1)], default);
            var position = i;
            // Once a write is acknowledged, every write issued before it must be acknowledged and committed too.
            checks[i] = writes[i].ContinueWith(async _ =>
            {
                var early = Enumerable.Range(0, position).Count(j => !writes[j].IsCompleted);
                var (_, completed) = await Store.CountInputsAsync("fc-1", default);
                return early > 0 || completed < position + 1
                    ? $"write {position} was acknowledged with {early} earlier writes pending and {completed} inputs committed"
                    : null;
            }, TaskScheduler.Default).Unwrap();
        }
        var problems = await Task.WhenAll(checks).WaitAsync(Limit);

        problems.Where(p => p is not null).Should().BeEmpty();
        (await Store.GetOutputsAsync("fc-1", 0, count, default)).Select(o => o.Index).Should().Equal(Enumerable.Range(0, count));
    }

    [StoreFact]
    public async Task A_write_that_fails_fails_alone_and_the_writes_around_it_commit()
    {
        await RefuseTokenNamedAsync("poison");
        TokenRecord Token(int i, string name) => new($"tk-{i}", name, TokenKinds.Client, "hash", T0.AddSeconds(i), null);

        var writes = Enumerable.Range(0, 20).Select(i => Store.SaveTokenAsync(Token(i, i == 10 ? "poison" : "fine"), default)).ToList();
        var failure = await Record.ExceptionAsync(() => writes[10].WaitAsync(Limit));
        await Task.WhenAll(writes.Where((_, i) => i != 10)).WaitAsync(Limit);

        failure.Should().NotBeNull();
        (await Store.ListTokensAsync(default)).Select(t => t.TokenId).Should().Equal(Enumerable.Range(0, 20).Where(i => i != 10).Select(i => $"tk-{i}"));
        await Store.SaveTokenAsync(Token(99, "after"), default);
        (await Store.ListTokensAsync(default)).Should().HaveCount(20);
    }

    #endregion
}
