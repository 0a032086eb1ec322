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

    private ILeaseStore Leases => Store;

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

    private static NewInput Input(int index, string? args = null, string? blob = null) => new(index, args ?? $"[{index}]", blob);

    private static NewInput[] Inputs(int count) => [.. Enumerable.Range(0, count).Select(i => Input(i))];

    /// <summary>A completion whose result is <c>value</c>, or a failure with <paramref name="error"/>.</summary>
    private static CompletionRecord Done(long inputId, string callId, long value, DateTimeOffset? at = null, RemoteError? error = null) =>
        new(inputId, callId, error is null, error is null ? $"{value}" : null, null, error, at ?? T0);

    private static AppRecord App(string appId, DateTimeOffset createdAt, string state = AppStates.Running, DateTimeOffset? stoppedAt = null) =>
        new(appId, "app-" + appId, "bd-1", state, false, createdAt, stoppedAt, null);

    /// <summary>Saves a call with inputs of indices 0..count-1 and completes all of them at <paramref name="at"/>.</summary>
    private async Task AddFinishedCallAsync(string callId, string appId, int count, DateTimeOffset at)
    {
        var ids = await Calls.AddInputsAsync(Call(callId, appId, final: true, createdAt: at), Inputs(count), default);
        await Calls.CompleteInputsAsync([.. ids.Select(id => Done(id, callId, id, at))], default);
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

    // Adds are idempotent by (call, index), the store assigns input ids and output cursors, an input's first outcome is
    // final, and outputs come back by cursor.

    [StoreFact]
    public async Task AddInputs_NewCall_SavesTheCallAndItsInputsAsPendingWithIdsTheStoreAssigned()
    {
        var pool = new PoolSpec(Overrides: new FunctionSettings { TimeoutSeconds = 5 });
        var call = Call("fc-1", pool: pool);

        var ids = await Calls.AddInputsAsync(call, [Input(0), new NewInput(1, null, "blob-1")], default);
        var pending = await Calls.LoadPendingInputsAsync(default);

        ids.Should().HaveCount(2).And.OnlyContain(id => id > 0);
        ids[1].Should().BeGreaterThan(ids[0], "ids are assigned in the order the inputs are listed");
        (await Calls.GetCallAsync("fc-1", default)).Should().BeEquivalentTo(call);
        (await Calls.GetCallAsync("fc-none", default)).Should().BeNull();
        pending.Select(p => (p.Input, p.Attempt)).Should().Equal(
            (new InputRecord(ids[0], "fc-1", 0, "[0]", null), 0), (new InputRecord(ids[1], "fc-1", 1, null, "blob-1"), 0));
        pending.Select(p => p.Call).Should().AllBeEquivalentTo(call);
    }

    [StoreFact]
    public async Task AddInputs_IndicesAlreadyPresent_AreIgnoredWithIdZeroAndTheCallIsOnlyMarkedFinal()
    {
        var first = await Calls.AddInputsAsync(Call("fc-1"), [Input(0), Input(1)], default);

        var second = await Calls.AddInputsAsync(Call("fc-1", final: true, createdAt: T0.AddDays(1)), [Input(1, args: "[\"again\"]"), Input(2), Input(2)], default);

        second[0].Should().Be(0);
        second[2].Should().Be(0, "an index repeated within one list is taken once, at its first place");
        second[1].Should().BeGreaterThan(first.Max());
        (await Calls.LoadPendingInputsAsync(default)).Select(p => p.Input).Should().Equal(
            new InputRecord(first[0], "fc-1", 0, "[0]", null), new InputRecord(first[1], "fc-1", 1, "[1]", null), new InputRecord(second[1], "fc-1", 2, "[2]", null));
        (await Calls.GetCallAsync("fc-1", default)).Should().BeEquivalentTo(Call("fc-1", final: true), "only the final mark of a later write is taken");
        (await Calls.CountInputsAsync("fc-1", default)).Should().Be((3, 0));
    }

    [StoreFact]
    public async Task AddInputs_ConcurrentAddsToManyCalls_GetDistinctIncreasingIds()
    {
        var adds = Enumerable.Range(0, 40).Select(c => Calls.AddInputsAsync(Call($"fc-{c}"), Inputs(25), default)).ToList();
        var ids = await Task.WhenAll(adds).WaitAsync(Limit);

        ids.SelectMany(i => i).Should().OnlyHaveUniqueItems().And.HaveCount(1000).And.OnlyContain(id => id > 0);
        ids.Should().AllSatisfy(list => list.Should().BeInAscendingOrder());
        (await Calls.LoadPendingInputsAsync(default)).Select(p => p.Input.InputId).Should().Equal(ids.SelectMany(i => i).Order());
    }

    [StoreFact]
    public async Task AddInputs_AfterReopen_ContinuesIdsAfterTheLargestStored()
    {
        var before = await Calls.AddInputsAsync(Call("fc-1"), Inputs(3), default);

        await ReopenAsync();
        var after = await Calls.AddInputsAsync(Call("fc-2"), Inputs(2), default);

        after.Should().OnlyContain(id => id > before.Max());
    }

    [StoreFact]
    public async Task AddInputs_NotFinalAfterFinal_LeavesTheCallFinal()
    {
        await Calls.AddInputsAsync(Call("fc-1", final: true), [Input(0)], default);

        await Calls.AddInputsAsync(Call("fc-1"), [Input(0)], default);

        (await Calls.GetCallAsync("fc-1", default))!.Final.Should().BeTrue();
    }

    [StoreFact]
    public async Task SetFinal_MarksTheCallFinal()
    {
        await Calls.AddInputsAsync(Call("fc-1"), [Input(0)], default);

        await Calls.SetFinalAsync("fc-1", default);

        (await Calls.GetCallAsync("fc-1", default))!.Final.Should().BeTrue();
    }

    [StoreFact]
    public async Task LoadQueuedInputs_ARangeOfOneCall_ReturnsItsUnfinishedInputsInIdOrderUpToTheLimit()
    {
        var call = Call("fc-1");
        var ids = await Calls.AddInputsAsync(call, Inputs(6), default);
        var other = await Calls.AddInputsAsync(Call("fc-2"), Inputs(2), default);
        await Calls.SetAttemptAsync(ids[2], 4, default);
        await Calls.CompleteInputsAsync([Done(ids[1], "fc-1", 1)], default);

        var first = await Calls.LoadQueuedInputsAsync(call, ids[0], ids[4], 3, default);
        var rest = await Calls.LoadQueuedInputsAsync(call, first[^1].Input.InputId + 1, ids[4], 3, default);
        var wide = await Calls.LoadQueuedInputsAsync(call, ids[5], other.Max(), 10, default);

        first.Select(p => (p.Input, p.Attempt)).Should().Equal(
            (new InputRecord(ids[0], "fc-1", 0, "[0]", null), 0), (new InputRecord(ids[2], "fc-1", 2, "[2]", null), 4),
            (new InputRecord(ids[3], "fc-1", 3, "[3]", null), 0));
        first.Select(p => p.Call).Should().AllSatisfy(c => c.Should().BeSameAs(call));
        rest.Select(p => p.Input.InputId).Should().Equal([ids[4]], "the range ends at its last id, and a finished input is left out");
        wide.Select(p => p.Input.InputId).Should().Equal([ids[5]], "another call's inputs in the range are not the call's");
    }

    [StoreFact]
    public async Task CompleteInputs_RecordsOutcomesOnceWithTheCallsNextCursorAndLeavesTheRestPending()
    {
        var ids = await Calls.AddInputsAsync(Call("fc-1"), Inputs(3), default);
        var error = new RemoteError("System.InvalidOperationException", "no", "at X()", ErrorKinds.User);

        await Calls.CompleteInputsAsync([Done(ids[2], "fc-1", 20, T0.AddSeconds(1)), Done(ids[0], "fc-1", 0, T0.AddSeconds(2), error)], default);
        await Calls.CompleteInputsAsync([Done(ids[2], "fc-1", 99, T0.AddSeconds(9), error), Done(ids[0], "fc-1", 98)], default);

        (await Calls.LoadPendingInputsAsync(default)).Select(p => p.Input.InputId).Should().Equal(ids[1]);
        (await Calls.GetOutputsAsync("fc-1", 0, 10, default)).Should().BeEquivalentTo(
            new[] { new StoredOutput(2, 1, true, "20", null, null), new StoredOutput(0, 2, false, null, null, error) },
            o => o.WithStrictOrdering(), "an input's first outcome is final, and a later one takes no cursor");
        (await Calls.CountInputsAsync("fc-1", default)).Should().Be((3, 2));
        (await Calls.CountFailedAsync("fc-1", default)).Should().Be(1, "the later failure of index 2 does not replace its success");

        await Calls.CompleteInputsAsync([Done(ids[1], "fc-1", 10)], default);
        (await Calls.GetOutputsAsync("fc-1", 2, 10, default)).Select(o => (o.Index, o.Cursor)).Should().Equal((1, 3L));
    }

    [StoreFact]
    public async Task CompleteInputs_ManyCallsInOneWrite_NumbersEachCallsOutputsFromOne()
    {
        var a = await Calls.AddInputsAsync(Call("fc-a"), Inputs(3), default);
        var b = await Calls.AddInputsAsync(Call("fc-b"), Inputs(2), default);

        await Calls.CompleteInputsAsync([Done(b[1], "fc-b", 1), Done(a[2], "fc-a", 2), Done(b[0], "fc-b", 0), Done(a[0], "fc-a", 0)], default);
        await Calls.CompleteInputsAsync([Done(a[1], "fc-a", 1)], default);

        (await Calls.GetOutputsAsync("fc-a", 0, 10, default)).Select(o => (o.Index, o.Cursor)).Should().Equal((2, 1L), (0, 2L), (1, 3L));
        (await Calls.GetOutputsAsync("fc-b", 0, 10, default)).Select(o => (o.Index, o.Cursor)).Should().Equal((1, 1L), (0, 2L));
    }

    [StoreFact]
    public async Task CompleteInputs_AnInputOfAnotherCall_IsIgnored()
    {
        var a = await Calls.AddInputsAsync(Call("fc-a"), Inputs(1), default);
        await Calls.AddInputsAsync(Call("fc-b"), Inputs(1), default);

        await Calls.CompleteInputsAsync([Done(a[0], "fc-b", 1)], default);

        (await Calls.CountInputsAsync("fc-a", default)).Should().Be((1, 0));
        (await Calls.GetOutputsAsync("fc-b", 0, 10, default)).Should().BeEmpty();
    }

    [StoreFact]
    public async Task LoadPendingInputs_AfterSetAttempt_ReturnsTheAttempt()
    {
        var ids = await Calls.AddInputsAsync(Call("fc-1"), Inputs(2), default);

        await Calls.SetAttemptAsync(ids[1], 3, default);

        (await Calls.LoadPendingInputsAsync(default)).Select(p => (p.Input.InputId, p.Attempt)).Should().Equal((ids[0], 0), (ids[1], 3));
    }

    [StoreFact]
    public async Task LoadPendingInputs_ManyCalls_ReturnsUnfinishedInputsInIdOrderWithTheirCalls()
    {
        var b = await Calls.AddInputsAsync(Call("fc-b", appId: "ap-2"), Inputs(2), default);
        var a = await Calls.AddInputsAsync(Call("fc-a"), Inputs(3), default);
        await Calls.CompleteInputsAsync([Done(a[1], "fc-a", 1), Done(b[0], "fc-b", 0)], default);

        var pending = await Calls.LoadPendingInputsAsync(default);

        pending.Select(p => (p.Input.InputId, p.Input.CallId, p.Call.CallId, p.Call.AppId)).Should().Equal(
            (b[1], "fc-b", "fc-b", "ap-2"), (a[0], "fc-a", "fc-a", "ap-1"), (a[2], "fc-a", "fc-a", "ap-1"));
    }

    [StoreFact]
    public async Task LoadCall_ReturnsOutputsByCursorAndEveryIndexUnfinishedFirst()
    {
        var ids = await Calls.AddInputsAsync(Call("fc-1"), Inputs(5), default);
        await Calls.CompleteInputsAsync([Done(ids[3], "fc-1", 30), Done(ids[1], "fc-1", 10)], default);
        await Calls.CompleteInputsAsync([Done(ids[4], "fc-1", 40)], default);

        var (outputs, indices) = await Calls.LoadCallAsync("fc-1", default);

        outputs.Select(o => (o.Index, o.Cursor, o.Result)).Should().Equal((3, 1, "30"), (1, 2, "10"), (4, 3, "40"));
        indices.Should().Equal(0, 2, 3, 1, 4);
        var (none, noIndices) = await Calls.LoadCallAsync("fc-none", default);
        none.Should().BeEmpty();
        noIndices.Should().BeEmpty();
    }

    [StoreFact]
    public async Task CountInputs_CountsAllAndFinishedInputs()
    {
        var one = await Calls.AddInputsAsync(Call("fc-1"), Inputs(3), default);
        var two = await Calls.AddInputsAsync(Call("fc-2"), Inputs(1), default);
        await Calls.CompleteInputsAsync([Done(one[0], "fc-1", 0), Done(two[0], "fc-2", 0)], default);

        (await Calls.CountInputsAsync("fc-1", default)).Should().Be((3, 1));
        (await Calls.CountInputsAsync("fc-2", default)).Should().Be((1, 1));
        (await Calls.CountInputsAsync("fc-none", default)).Should().Be((0, 0));
    }

    [StoreFact]
    public async Task WasCancelled_IsTrueOnlyWhenAnInputEndedCancelled()
    {
        var one = await Calls.AddInputsAsync(Call("fc-1"), Inputs(2), default);
        var two = await Calls.AddInputsAsync(Call("fc-2"), Inputs(2), default);
        await Calls.CompleteInputsAsync([Done(one[0], "fc-1", 0), Done(one[1], "fc-1", 1, error: new RemoteError("Timeout", "took too long", Kind: ErrorKinds.Timeout))], default);
        await Calls.CompleteInputsAsync([Done(two[0], "fc-2", 0), Done(two[1], "fc-2", 1, error: new RemoteError("Cancelled", "The call was cancelled.", Kind: ErrorKinds.Cancelled))], default);

        (await Calls.WasCancelledAsync("fc-1", default)).Should().BeFalse();
        (await Calls.WasCancelledAsync("fc-2", default)).Should().BeTrue();
        (await Calls.WasCancelledAsync("fc-none", default)).Should().BeFalse();
    }

    [StoreFact]
    public async Task GetOutputs_PagesAfterACursor()
    {
        var one = await Calls.AddInputsAsync(Call("fc-1"), Inputs(5), default);
        var two = await Calls.AddInputsAsync(Call("fc-2"), Inputs(1), default);
        await Calls.CompleteInputsAsync([Done(one[2], "fc-1", 2), Done(two[0], "fc-2", 0), Done(one[4], "fc-1", 4)], default);
        await Calls.CompleteInputsAsync([Done(one[0], "fc-1", 0), Done(one[1], "fc-1", 1), Done(one[3], "fc-1", 3)], default);

        var pages = new List<IReadOnlyList<StoredOutput>>();
        for (var after = 0; after <= 6; after += 2)
        {
            pages.Add(await Calls.GetOutputsAsync("fc-1", after, 2, default));
        }

        pages.Select(p => p.Select(o => (o.Index, o.Cursor)).ToList()).Should().BeEquivalentTo(
            new[] { new[] { (2, 1L), (4, 2L) }, [(0, 3L), (1, 4L)], [(3, 5L)], [] }, o => o.WithStrictOrdering());
        (await Calls.GetOutputsAsync("fc-1", 1, 100, default)).Select(o => o.Index).Should().Equal(4, 0, 1, 3);
    }

    [StoreFact]
    public async Task CompleteInputs_ConcurrentWritesToOneCall_GiveDenseCursorsInCommitOrder()
    {
        const int count = 200;
        var ids = await Calls.AddInputsAsync(Call("fc-1"), Inputs(count), default);

        await Task.WhenAll(ids.Select((id, i) => Calls.CompleteInputsAsync([Done(id, "fc-1", i)], default))).WaitAsync(Limit);
        var outputs = await Calls.GetOutputsAsync("fc-1", 0, count, default);

        outputs.Select(o => o.Cursor).Should().Equal(Enumerable.Range(1, count).Select(i => (long)i));
        outputs.Select(o => o.Index).Should().BeEquivalentTo(Enumerable.Range(0, count));
    }

    [StoreFact]
    public async Task GetOutputs_AfterReopen_ContinuesTheCursorsOfACall()
    {
        var ids = await Calls.AddInputsAsync(Call("fc-1"), Inputs(3), default);
        await Calls.CompleteInputsAsync([Done(ids[1], "fc-1", 1)], default);

        await ReopenAsync();
        await Calls.CompleteInputsAsync([Done(ids[0], "fc-1", 0), Done(ids[2], "fc-1", 2)], default);

        (await Calls.GetOutputsAsync("fc-1", 0, 10, default)).Select(o => (o.Index, o.Cursor)).Should().Equal((1, 1L), (0, 2L), (2, 3L));
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

    #region ILeaseStore: pool leases and the replica registry

    // One holder per pool until its lease expires; the epoch grows with every change of hands; a stale holder can
    // neither renew nor release. Times are explicit, as a replica's clock gives them.

    private static readonly TimeSpan LeaseFor = TimeSpan.FromSeconds(10);

    [StoreFact]
    public async Task TryAcquireLease_FreePool_GivesItWithEpochOneAndRefusesAnotherUntilItExpires()
    {
        var first = await Leases.TryAcquireLeaseAsync("pl-1", "rp-a", T0, T0 + LeaseFor, default);
        var refused = await Leases.TryAcquireLeaseAsync("pl-1", "rp-b", T0 + LeaseFor - TimeSpan.FromMilliseconds(1), T0 + (2 * LeaseFor), default);
        var taken = await Leases.TryAcquireLeaseAsync("pl-1", "rp-b", T0 + LeaseFor, T0 + (2 * LeaseFor), default);

        first.Should().Be(new PoolLease("pl-1", "rp-a", 1, T0 + LeaseFor));
        refused.Should().Be(first, "a lease is held until the instant it expires");
        taken.Should().Be(new PoolLease("pl-1", "rp-b", 2, T0 + (2 * LeaseFor)));
        (await Leases.GetLeaseAsync("pl-1", default)).Should().Be(taken);
        (await Leases.GetLeaseAsync("pl-none", default)).Should().BeNull();
    }

    [StoreFact]
    public async Task TryAcquireLease_ByItsHolder_ExtendsItWithTheSameEpoch()
    {
        await Leases.TryAcquireLeaseAsync("pl-1", "rp-a", T0, T0 + LeaseFor, default);

        var again = await Leases.TryAcquireLeaseAsync("pl-1", "rp-a", T0.AddSeconds(3), T0.AddSeconds(3) + LeaseFor, default);

        again.Should().Be(new PoolLease("pl-1", "rp-a", 1, T0.AddSeconds(3) + LeaseFor));
    }

    [StoreFact]
    public async Task RenewLease_ByAStaleHolder_FailsAndChangesNothing()
    {
        var a = await Leases.TryAcquireLeaseAsync("pl-1", "rp-a", T0, T0 + LeaseFor, default);
        (await Leases.RenewLeaseAsync("pl-1", "rp-a", a.Epoch, T0.AddSeconds(5) + LeaseFor, default)).Should().BeTrue();
        var b = await Leases.TryAcquireLeaseAsync("pl-1", "rp-b", T0.AddSeconds(5) + LeaseFor, T0.AddSeconds(30), default);

        var renewed = await Leases.RenewLeaseAsync("pl-1", "rp-a", a.Epoch, T0.AddMinutes(5), default);
        await Leases.ReleaseLeaseAsync("pl-1", "rp-a", a.Epoch, T0.AddSeconds(20), default);

        renewed.Should().BeFalse("the pool changed hands");
        (await Leases.GetLeaseAsync("pl-1", default)).Should().Be(new PoolLease("pl-1", "rp-b", 2, T0.AddSeconds(30)));
        b.Epoch.Should().Be(2);
    }

    [StoreFact]
    public async Task ReleaseLease_LetsAnotherReplicaTakeThePoolAtOnceWithTheNextEpoch()
    {
        var a = await Leases.TryAcquireLeaseAsync("pl-1", "rp-a", T0, T0 + LeaseFor, default);

        await Leases.ReleaseLeaseAsync("pl-1", "rp-a", a.Epoch, T0.AddSeconds(1), default);
        var b = await Leases.TryAcquireLeaseAsync("pl-1", "rp-b", T0.AddSeconds(1), T0.AddSeconds(1) + LeaseFor, default);
        var backToA = await Leases.TryAcquireLeaseAsync("pl-1", "rp-a", T0.AddSeconds(1) + LeaseFor, T0.AddMinutes(1), default);

        b.Should().Be(new PoolLease("pl-1", "rp-b", 2, T0.AddSeconds(1) + LeaseFor));
        backToA.Should().Be(new PoolLease("pl-1", "rp-a", 3, T0.AddMinutes(1)), "the epoch never goes back");
    }

    [StoreFact]
    public async Task TryAcquireLease_ManyReplicasRacingForAnExpiredLease_ExactlyOneWins()
    {
        await Leases.TryAcquireLeaseAsync("pl-1", "rp-old", T0, T0 + LeaseFor, default);
        var now = T0 + LeaseFor;

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            Leases.TryAcquireLeaseAsync("pl-1", $"rp-{i}", now, now + LeaseFor, default))).WaitAsync(Limit);

        var winner = (await Leases.GetLeaseAsync("pl-1", default))!;
        winner.Epoch.Should().Be(2);
        results.Should().AllBeEquivalentTo(winner, "every racer is told of the one winner");
        winner.ReplicaId.Should().BeOneOf(Enumerable.Range(0, 8).Select(i => $"rp-{i}"));
    }

    [StoreFact]
    public async Task FencedWrites_CommitWhileTheLeaseHoldsAndAreRefusedWholeOnceItChangesHands()
    {
        var a = await Leases.TryAcquireLeaseAsync("ap-1", "rp-a", T0, T0 + LeaseFor, default);
        var fenceA = new LeaseFence("ap-1", "rp-a", a.Epoch);
        var ids = await Calls.AddInputsAsync(Call("fc-1"), Inputs(2), fenceA, default);
        await Calls.CompleteInputsAsync([Done(ids[0], "fc-1", 0)], fenceA, default);
        var b = await Leases.TryAcquireLeaseAsync("ap-1", "rp-b", T0 + LeaseFor, T0 + (2 * LeaseFor), default);

        var lateAdd = () => Calls.AddInputsAsync(Call("fc-1"), [Input(2)], fenceA, default);
        var lateCompletion = () => Calls.CompleteInputsAsync([Done(ids[1], "fc-1", 1)], fenceA, default);
        var wrongReplica = () => Calls.AddInputsAsync(Call("fc-1"), [Input(3)], fenceA with { Epoch = b.Epoch }, default);

        await lateAdd.Should().ThrowAsync<LeaseLostException>();
        await lateCompletion.Should().ThrowAsync<LeaseLostException>();
        await wrongReplica.Should().ThrowAsync<LeaseLostException>();
        (await Calls.CountInputsAsync("fc-1", default)).Should().Be((2, 1), "nothing written under the old epoch lands");
        await Calls.CompleteInputsAsync([Done(ids[1], "fc-1", 1)], new LeaseFence("ap-1", "rp-b", b.Epoch), default);
        (await Calls.GetOutputsAsync("fc-1", 0, 10, default)).Select(o => (o.Index, o.Cursor)).Should().Equal((0, 1L), (1, 2L));
    }

    [StoreFact]
    public async Task ListReplicas_ReturnsThoseHeardFromSinceACutoffWithTheirLatestUrl()
    {
        await Leases.HeartbeatReplicaAsync(new ReplicaRecord("rp-b", "http://10.0.0.2:7080", T0), default);
        await Leases.HeartbeatReplicaAsync(new ReplicaRecord("rp-a", "http://10.0.0.1:7080", T0.AddSeconds(1)), default);
        await Leases.HeartbeatReplicaAsync(new ReplicaRecord("rp-c", "http://10.0.0.3:7080", T0.AddSeconds(-30)), default);
        await Leases.HeartbeatReplicaAsync(new ReplicaRecord("rp-b", "http://10.0.0.9:7080", T0.AddSeconds(2)), default);
        await Leases.HeartbeatReplicaAsync(new ReplicaRecord("rp-d", "http://10.0.0.4:7080", T0.AddSeconds(3)), default);

        await Leases.RemoveReplicaAsync("rp-d", default);
        var live = await Leases.ListReplicasAsync(T0, default);

        live.Should().Equal(
            new ReplicaRecord("rp-a", "http://10.0.0.1:7080", T0.AddSeconds(1)),
            new ReplicaRecord("rp-b", "http://10.0.0.9:7080", T0.AddSeconds(2)));
        (await Leases.ListReplicasAsync(T0.AddSeconds(-60), default)).Select(r => r.ReplicaId).Should().Equal("rp-a", "rp-b", "rp-c");
    }

    #endregion

    #region IRetentionStore: deleting what expired

    // What finished before the cutoff goes, across calls, logs and apps, in bounded batches.

    [StoreFact]
    public async Task DeleteExpired_DeletesCallsWhoseInputsAllCompletedBeforeTheCutoff()
    {
        var cutoff = T0.AddDays(7);
        await AddFinishedCallAsync("fc-old", "ap-1", 3, T0);
        var straddles = await Calls.AddInputsAsync(Call("fc-straddles", final: true), Inputs(2), default);
        await Calls.CompleteInputsAsync([Done(straddles[0], "fc-straddles", 0, T0), Done(straddles[1], "fc-straddles", 1, cutoff)], default);
        var unfinished = await Calls.AddInputsAsync(Call("fc-unfinished", final: true), Inputs(2), default);
        await Calls.CompleteInputsAsync([Done(unfinished[0], "fc-unfinished", 0, T0)], default);
        var open = await Calls.AddInputsAsync(Call("fc-open"), Inputs(1), default);
        await Calls.CompleteInputsAsync([Done(open[0], "fc-open", 0, T0)], default);
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
        await Calls.AddInputsAsync(Call("fc-of-stopped", appId: "ap-stopped"), Inputs(1), default);
        var running = await Calls.AddInputsAsync(Call("fc-of-running", appId: "ap-running"), Inputs(1), default);
        await Logs.AppendLogsAsync("ap-stopped", [Line(1, cutoff.AddDays(1))], default);
        await Logs.AppendLogsAsync("ap-running", [Line(1, T0), Line(2, cutoff.AddSeconds(-1)), Line(3, cutoff)], default);

        var deleted = await Retention.DeleteExpiredAsync(cutoff, default);

        deleted.Should().Be((1, 1));
        (await Apps.ListAppsAsync(default)).Select(a => a.AppId).Should().Equal("ap-stopped-late", "ap-running");
        (await Calls.GetCallAsync("fc-of-stopped", default)).Should().BeNull("a stopped app's calls go with it, finished or not");
        (await Calls.LoadPendingInputsAsync(default)).Select(p => p.Input.InputId).Should().Equal(running[0]);
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
            Calls.AddInputsAsync(Call($"fc-{i}", appId: "ap-1", final: true), Inputs(1), default))).WaitAsync(Limit);

        var batches = new List<(int Calls, int Apps)>();
        do
        {
            batches.Add(await Retention.DeleteExpiredAsync(cutoff, default));
        }
        while (batches[^1].Calls > 0 && batches.Count < 10);

        batches.Should().Equal((IRetentionStore.ExpiredCallsPerBatch, 0), (IRetentionStore.ExpiredCallsPerBatch, 0), (50, 1), (0, 0));
        (await Apps.ListAppsAsync(default)).Should().BeEmpty();
        (await Calls.LoadPendingInputsAsync(default)).Should().BeEmpty();
    }

    #endregion

    #region IStore: durability and group commit, across every interface

    // A write returns once committed, writes commit in issue order, and a write that fails fails alone.

    [StoreFact]
    public async Task Reopen_KeepsEveryCommittedWrite()
    {
        await Store.SaveTokenAsync(new TokenRecord("tk-1", "laptop", TokenKinds.Client, "hash", T0, null), default);
        await Store.SaveAppAsync(App("ap-1", T0), default);
        var ids = await Store.AddInputsAsync(Call("fc-1"), Inputs(2), default);
        await Store.CompleteInputsAsync([Done(ids[1], "fc-1", 5)], default);

        await ReopenAsync();

        (await Store.ListTokensAsync(default)).Select(t => t.TokenId).Should().Equal("tk-1");
        (await Store.ListAppsAsync(default)).Select(a => a.AppId).Should().Equal("ap-1");
        (await Store.LoadPendingInputsAsync(default)).Select(p => p.Input.InputId).Should().Equal(ids[0]);
        (await Store.GetOutputsAsync("fc-1", 0, 10, default)).Should().Equal(new StoredOutput(1, 1, true, "5", null, null));
    }

    [StoreFact]
    public async Task CompleteInputs_IssuedInOrderWithoutWaiting_CommitInThatOrder()
    {
        const int count = 300;
        var ids = await Store.AddInputsAsync(Call("fc-1"), Inputs(count), default);
        var writes = new Task[count];
        var checks = new Task<string?>[count];

        for (var i = 0; i < count; i++)
        {
            writes[i] = Store.CompleteInputsAsync([Done(ids[i], "fc-1", i)], default);
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
    public async Task CompleteInputs_LoneAndBatchedFromManyThreads_CommitInIssueOrderPerThread()
    {
        const int threads = 4;
        const int each = 100;
        var ids = await Calls.AddInputsAsync(Call("fc-1"), Inputs(threads * each), default);
        using var start = new Barrier(threads);

        // Each thread alternates a lone completion with a pair, issuing each without waiting for the one before.
        var workers = Enumerable.Range(0, threads).Select(t => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait(Limit);
            var writes = new List<Task>();
            for (var i = 0; i < each; i += 3)
            {
                var index = t * each + i;
                writes.Add(Calls.CompleteInputsAsync([Done(ids[index], "fc-1", index)], default));
                if (i + 2 < each)
                {
                    writes.Add(Calls.CompleteInputsAsync([Done(ids[index + 1], "fc-1", index + 1), Done(ids[index + 2], "fc-1", index + 2)], default));
                }
                else if (i + 1 < each)
                {
                    writes.Add(Calls.CompleteInputsAsync([Done(ids[index + 1], "fc-1", index + 1)], default));
                }
            }
            return Task.WhenAll(writes);
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap()).ToList();
        await Task.WhenAll(workers).WaitAsync(Limit);

        var outputs = await Calls.GetOutputsAsync("fc-1", 0, threads * each, default);
        outputs.Select(o => o.Cursor).Should().Equal(Enumerable.Range(1, threads * each).Select(i => (long)i));
        foreach (var t in Enumerable.Range(0, threads))
        {
            // One thread's writes were issued one after another: their cursors rise in that order.
            outputs.Where(o => o.Index / each == t).Select(o => o.Index).Should().BeInAscendingOrder();
        }
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
