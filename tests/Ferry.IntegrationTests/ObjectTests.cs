using System.Net;
using System.Net.Http.Json;
using FluentAssertions;
using Ferry.Protocol;
using Ferry.TestApp;

namespace Ferry.IntegrationTests;

/// <summary>Secrets, Dicts and Queues used from local code and from containers of a real worker.</summary>
public sealed class ObjectTests(WideWorkerFixture fixture) : IClassFixture<WideWorkerFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);
    private readonly ObjectFunctions _f = fixture.Functions.Objects;

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    private async Task CreateSecretAsync(string name, Dictionary<string, string> values, bool force = true)
    {
        using var http = fixture.NewHttpClient();
        using var response = await http.PostAsJsonAsync(Routes.Secrets, new CreateSecretRequest(name, values, force), ProtocolJsonContext.Default.CreateSecretRequest);
        response.StatusCode.Should().Be(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Queue_EightConsumersAndTwoProducers_EveryItemIsTakenExactlyOnce()
    {
        var appId = await fixture.NewAppAsync();
        var name = Unique("work");
        var queue = Queue.FromName(name, createIfMissing: true);
        await queue.CountAsync();
        using var timeout = new CancellationTokenSource(Limit);

        var consumers = new List<Task<int[]>>();
        for (var i = 0; i < 8; i++)
        {
            consumers.Add(_f.Consume.RemoteAsync(name, timeout.Token));
        }
        await fixture.WaitUntilAsync(() => fixture.Scheduler.PoolsOfApp(appId).SingleOrDefault(p => p.PoolId == "consume") is { } pool
            && pool.Containers.Count == 8 && pool.Containers.Values.All(c => c.Running.Count == 1));
        var produced = await Task.WhenAll(_f.Produce.RemoteAsync(name, 0, 1500, timeout.Token), _f.Produce.RemoteAsync(name, 1500, 1500, timeout.Token));
        await queue.PutManyAsync(Enumerable.Repeat(-1, 8), cancellationToken: timeout.Token);
        var taken = await Task.WhenAll(consumers);

        produced.Should().Equal(1500, 1500);
        taken.SelectMany(t => t).Order().Should().Equal(Enumerable.Range(0, 3000));
        taken.Count(t => t.Length > 0).Should().BeGreaterThan(1, "the items were shared out between the running consumers");
        (await queue.CountAsync(total: true, cancellationToken: timeout.Token)).Should().Be(0);
        foreach (var perConsumer in taken)
        {
            // FIFO per producer: a consumer sees each producer's items in the order they were put.
            perConsumer.Where(x => x < 1500).Should().BeInAscendingOrder();
            perConsumer.Where(x => x >= 1500).Should().BeInAscendingOrder();
        }
    }

    [Fact]
    public async Task Dict_PutIfAbsentRacedByEightContainers_ExactlyOneWins()
    {
        var appId = await fixture.NewAppAsync();
        var name = Unique("lock");
        var dict = Dict.FromName(name, createIfMissing: true);
        var go = Queue.FromName(name, createIfMissing: true);
        await dict.CountAsync();
        await go.CountAsync();
        using var timeout = new CancellationTokenSource(Limit);

        var claims = Enumerable.Range(0, 8).Select(_ => _f.Claim.RemoteAsync(name, timeout.Token)).ToList();
        await fixture.WaitUntilAsync(() => fixture.Scheduler.PoolsOfApp(appId).SingleOrDefault(p => p.PoolId == "claim") is { } pool
            && pool.Containers.Count == 8 && pool.Containers.Values.All(c => c.Running.Count == 1));
        var containers = fixture.Pool(appId, "claim").Containers.Keys.ToHashSet();
        await go.PutManyAsync(Enumerable.Repeat("go", 8), cancellationToken: timeout.Token);
        var won = await Task.WhenAll(claims);

        won.Count(w => w).Should().Be(1);
        containers.Should().Contain(await dict.GetAsync<string>("lock", cancellationToken: timeout.Token));
        (await dict.CountAsync(timeout.Token)).Should().Be(1);
    }

    [Fact]
    public async Task Secret_ReachesTheContainersEnvironment_ButNoListingLogOrStoredDefinition()
    {
        const string value = "s3cr3t-value-4b1e9d";
        await CreateSecretAsync(ObjectFunctions.SecretName, new() { ["API_KEY"] = value, ["OTHER"] = "x" });
        var appId = await fixture.NewAppAsync();

        var seen = await _f.SecretEnv.RemoteAsync("API_KEY");
        var local = await _f.SecretEnv.RemoteAsync("LOCAL_KEY");

        seen.Should().Be(value);
        local.Should().Be("local-value-7d1f");
        using var http = fixture.NewHttpClient();
        var listing = await http.GetStringAsync(Routes.Secrets);
        listing.Should().Contain(ObjectFunctions.SecretName).And.Contain("API_KEY").And.NotContain(value).And.NotContain("local-value-7d1f");
        var list = await http.GetFromJsonAsync(Routes.Secrets, ProtocolJsonContext.Default.SecretList);
        list!.Secrets.Should().ContainSingle(s => s.Name == ObjectFunctions.SecretName).Which.Keys.Should().Equal("API_KEY", "OTHER");
        list.Secrets.Should().NotContain(s => s.Name.StartsWith("se-"), "a FromDictionary secret is the app's own, not a listed one");
        (await fixture.LogsAsync(appId)).Should().NotContain(e => e.Text.Contains(value) || e.Text.Contains("local-value-7d1f"));
        var stored = await ReadDatabaseAsync("SELECT definition FROM apps WHERE app_id = $p", appId);
        stored.Should().Contain("ferry-test-secret").And.NotContain(value).And.NotContain("local-value-7d1f");
        var sealedBytes = await ReadDatabaseAsync("SELECT hex(sealed) FROM secrets WHERE name = $p", ObjectFunctions.SecretName);
        sealedBytes.Should().NotContain(Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(value)), "values are encrypted at rest");
        var keyFile = Path.Combine(fixture.DataDirectory, "secrets.key");
        if (!OperatingSystem.IsWindows())
        {
            File.GetUnixFileMode(keyFile).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    [Fact]
    public async Task Secret_MissingRequiredKey_FailsTheStartNamingTheKeyButNoValue()
    {
        await CreateSecretAsync(ObjectFunctions.SecretName, new() { ["API_KEY"] = "value-not-to-show-91c2" });
        var appId = await fixture.NewAppAsync();

        var failure = await FluentActions.Awaiting(() => _f.MissingSecretKey.RemoteAsync(1)).Should().ThrowAsync<NotFoundException>();

        failure.Which.Message.Should().Be("missing_secret_key: Secret 'ferry-test-secret' has no key 'NO_SUCH_KEY', which the function requires.");
        fixture.Pool(appId, "missing_secret_key").Containers.Should().BeEmpty();
        (await fixture.LogsAsync(appId)).Should().Contain(e => e.Text.Contains("NO_SUCH_KEY")).And.NotContain(e => e.Text.Contains("value-not-to-show-91c2"));
    }

    [Fact]
    public async Task Dict_FromLocalCodeAndContainer_SharesTypedValues()
    {
        await fixture.NewAppAsync();
        var name = Unique("cache");
        var dict = Dict.FromName(name, createIfMissing: true);

        (await _f.DictRoundTrip.RemoteAsync(name, "hello")).Should().Be("hello");
        (await dict.GetAsync<string>("from-container")).Should().Be("hello");
        (await dict.PutAsync(new[] { 1, 2 }, new Point(3, 4, ["a"]))).Should().BeTrue();
        (await dict.GetAsync<Point>(new[] { 1, 2 }))!.Tags.Should().Equal("a");
        (await dict.PutAsync("n", 42, skipIfExists: true)).Should().BeTrue();
        (await dict.PutAsync("n", 43, skipIfExists: true)).Should().BeFalse();
        (await dict.GetAsync<int>("n")).Should().Be(42);
        (await dict.ContainsAsync("n")).Should().BeTrue();
        (await dict.ContainsAsync("absent")).Should().BeFalse();
        (await dict.GetAsync("absent", -5)).Should().Be(-5);
        await dict.UpdateAsync(Enumerable.Range(0, 2500).Select(i => KeyValuePair.Create($"k{i:D4}", i)));
        (await dict.CountAsync()).Should().Be(2503);
        var keys = new List<string>();
        await foreach (var entry in dict.ItemsAsync<System.Text.Json.JsonElement, System.Text.Json.JsonElement>())
        {
            keys.Add(entry.Key.ToString());
        }
        keys.Should().HaveCount(2503).And.OnlyHaveUniqueItems();
        (await dict.PopAsync<int>("n")).Should().Be(42);
        await FluentActions.Awaiting(() => dict.PopAsync<int>("n")).Should().ThrowAsync<NotFoundException>().WithMessage($"Dict '{name}' has no key \"n\".");
        var wrongType = await FluentActions.Awaiting(() => dict.GetAsync<int>("from-container")).Should().ThrowAsync<DeserializationException>();
        wrongType.Which.Message.Should().StartWith($"Dict '{name}', key \"from-container\": cannot be read as Int32:");
        await dict.ClearAsync();
        (await dict.CountAsync()).Should().Be(0);
    }

    [Fact]
    public async Task Objects_BadInput_GetClearErrorsNamingTheLimitOrName()
    {
        await fixture.NewAppAsync();
        var name = Unique("limits");
        var dict = Dict.FromName(name, createIfMissing: true);
        var missing = Unique("nowhere");

        var tooBig = await FluentActions.Awaiting(() => dict.PutAsync("big", new string('x', 1024 * 1024))).Should().ThrowAsync<RequestSizeException>();
        var unknownDict = await FluentActions.Awaiting(() => Dict.FromName(missing).GetAsync<int>("k")).Should().ThrowAsync<NotFoundException>();
        var unknownQueue = await FluentActions.Awaiting(() => Queue.FromName(missing).PutAsync(1)).Should().ThrowAsync<NotFoundException>();
        var queue = Queue.FromName(name, createIfMissing: true);
        var bigItem = await FluentActions.Awaiting(() => queue.PutAsync(new string('y', 1024 * 1024))).Should().ThrowAsync<RequestSizeException>();
        var badPartition = await FluentActions.Awaiting(() => queue.PutAsync(1, partition: new string('p', 65))).Should().ThrowAsync<InvalidRequestException>();

        tooBig.Which.Message.Should().Be($"Dict '{name}': the value for key \"big\" is {1024 * 1024 + 2} bytes of JSON, over the limit of 1 MiB per value.");
        unknownDict.Which.Message.Should().Be($"Dict '{missing}' does not exist; create it with Dict.FromName(\"{missing}\", createIfMissing: true).");
        unknownQueue.Which.Message.Should().Be($"Queue '{missing}' does not exist; create it with Queue.FromName(\"{missing}\", createIfMissing: true).");
        bigItem.Which.Message.Should().Be($"Queue '{name}': item 0 is {1024 * 1024 + 2} bytes of JSON, over the limit of 1 MiB per item.");
        badPartition.Which.Message.Should().Be("A partition key must be 1 to 64 bytes of UTF-8, not 65.");
        using var http = fixture.NewHttpClient();
        using var badSecret = await http.PostAsJsonAsync(Routes.Secrets, new CreateSecretRequest("bad name", new Dictionary<string, string> { ["K"] = "v" }), ProtocolJsonContext.Default.CreateSecretRequest);
        badSecret.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        using var badKey = await http.PostAsJsonAsync(Routes.Secrets, new CreateSecretRequest("ok", new Dictionary<string, string> { ["1X"] = "v" }), ProtocolJsonContext.Default.CreateSecretRequest);
        (await badKey.Content.ReadFromJsonAsync(ProtocolJsonContext.Default.ErrorResponse))!.Message.Should().Be("Secret 'ok': '1X' is not an environment variable name (a letter or '_', then letters, digits or '_').");
    }

    [Fact]
    public async Task Queue_BlockingGetAndPut_WakeOnTheOtherSide()
    {
        await fixture.NewAppAsync();
        var queue = Queue.FromName(Unique("blocking"), createIfMissing: true);
        using var timeout = new CancellationTokenSource(Limit);

        var waiting = queue.GetAsync<string>(TimeSpan.FromSeconds(100), cancellationToken: timeout.Token);
        await queue.PutAsync("wake", cancellationToken: timeout.Token);
        (await waiting).Should().Be("wake");

        await queue.PutManyAsync(Enumerable.Range(0, 5000), cancellationToken: timeout.Token);
        await FluentActions.Awaiting(() => queue.PutAsync(5000, TimeSpan.Zero, cancellationToken: timeout.Token)).Should().ThrowAsync<QueueFullException>();
        var blocked = queue.PutAsync(5000, TimeSpan.FromSeconds(100), cancellationToken: timeout.Token);
        (await queue.GetManyAsync<int>(3, cancellationToken: timeout.Token)).Should().Equal(0, 1, 2);
        await blocked;
        (await queue.CountAsync(cancellationToken: timeout.Token)).Should().Be(4998);

        var peeked = new List<int>();
        await foreach (var item in queue.IterateAsync<int>(cancellationToken: timeout.Token))
        {
            peeked.Add(item);
        }
        peeked.Should().Equal(Enumerable.Range(3, 4998));
        (await queue.CountAsync(cancellationToken: timeout.Token)).Should().Be(4998, "iterating leaves the items in place");

        await queue.PutManyAsync(["a", "b"], partition: "p1", cancellationToken: timeout.Token);
        (await queue.CountAsync("p1", cancellationToken: timeout.Token)).Should().Be(2);
        (await queue.CountAsync(total: true, cancellationToken: timeout.Token)).Should().Be(5000);
        await queue.ClearAsync(cancellationToken: timeout.Token);
        (await queue.CountAsync(total: true, cancellationToken: timeout.Token)).Should().Be(2);
        (await queue.GetAsync<string>(TimeSpan.Zero, "p1", timeout.Token)).Should().Be("a");
        await FluentActions.Awaiting(() => queue.GetAsync<string>(TimeSpan.Zero, cancellationToken: timeout.Token)).Should().ThrowAsync<QueueEmptyException>();
        (await queue.GetManyAsync<int>(10, TimeSpan.FromMilliseconds(50), cancellationToken: timeout.Token)).Should().BeEmpty();
    }

    [Fact]
    public async Task Objects_SurviveAServerRestart()
    {
        await CreateSecretAsync(ObjectFunctions.SecretName, new() { ["API_KEY"] = "after-restart-5a" });
        await fixture.NewAppAsync();
        var name = Unique("durable");
        await Dict.FromName(name, createIfMissing: true).PutAsync("k", new[] { 1, 2, 3 });
        await Queue.FromName(name, createIfMissing: true).PutManyAsync(["first", "second"]);
        await Queue.FromName(name).PutAsync("other", partition: "side");

        await fixture.RestartServerAsync();
        await fixture.NewAppAsync();

        (await Dict.FromName(name).GetAsync<int[]>("k")).Should().Equal(1, 2, 3);
        (await Queue.FromName(name).GetManyAsync<string>(10, TimeSpan.Zero)).Should().Equal("first", "second");
        (await Queue.FromName(name).GetAsync<string>(TimeSpan.Zero, "side")).Should().Be("other");
        (await _f.SecretEnv.RemoteAsync("API_KEY")).Should().Be("after-restart-5a");
    }

    private async Task<string> ReadDatabaseAsync(string sql, string parameter)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(fixture.DataDirectory, "ferry.db")};Mode=ReadOnly;Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("$p", parameter);
        return (string)(await command.ExecuteScalarAsync())!;
    }
}

/// <summary>Dict entries and queue partitions expire on the server's clock.</summary>
public sealed class ObjectExpiryTests(ManualClockFixture fixture) : IClassFixture<ManualClockFixture>
{
    [Fact]
    public async Task Dict_EntryExpiresSevenDaysAfterItsLastReadOrWrite_OnTheServersClock()
    {
        await fixture.NewAppAsync();
        var dict = Dict.FromName("expiry-" + Guid.NewGuid().ToString("N")[..8], createIfMissing: true);
        await dict.PutAsync("read", 1);
        await dict.PutAsync("unread", 2);

        fixture.ManualClock.Advance(TimeSpan.FromDays(6));
        (await dict.GetAsync<int>("read")).Should().Be(1);
        fixture.ManualClock.Advance(TimeSpan.FromDays(1));
        (await dict.ContainsAsync("unread")).Should().BeFalse("seven days passed since its write");
        (await dict.CountAsync()).Should().Be(1);
        fixture.ManualClock.Advance(TimeSpan.FromDays(5));
        (await dict.GetAsync<int>("read")).Should().Be(1, "six days passed since its last read");
        (await dict.PutAsync("unread", 3, skipIfExists: true)).Should().BeTrue("an expired entry does not block a put-if-absent");
        fixture.ManualClock.Advance(TimeSpan.FromDays(7) - TimeSpan.FromMilliseconds(1));
        (await dict.CountAsync()).Should().Be(2, "a millisecond is left");
        fixture.ManualClock.Advance(TimeSpan.FromMilliseconds(1));
        (await dict.GetAsync("read", -1)).Should().Be(-1);
        (await dict.CountAsync()).Should().Be(0);
        (await StoredEntriesAsync(dict.Name)).Should().Be(2, "expired entries wait for the sweep");
        await fixture.Server.SweepObjectsAsync();
        (await StoredEntriesAsync(dict.Name)).Should().Be(0);
    }

    private async Task<long> StoredEntriesAsync(string dict)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(fixture.DataDirectory, "ferry.db")};Mode=ReadOnly;Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM dict_entries WHERE dict = $d";
        command.Parameters.AddWithValue("$d", dict);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task Queue_PartitionClearsItsTtlAfterItsLastPut()
    {
        await fixture.NewAppAsync();
        var queue = Queue.FromName("ttl-" + Guid.NewGuid().ToString("N")[..8], createIfMissing: true);
        await queue.PutAsync("x", partition: "short", partitionTtl: TimeSpan.FromHours(1));
        await queue.PutAsync("y");

        fixture.ManualClock.Advance(TimeSpan.FromMinutes(59));
        (await queue.CountAsync("short")).Should().Be(1);
        fixture.ManualClock.Advance(TimeSpan.FromMinutes(1));
        (await queue.CountAsync("short")).Should().Be(0);
        (await queue.CountAsync()).Should().Be(1, "the default partition lives 24 hours");
        fixture.ManualClock.Advance(TimeSpan.FromHours(23));
        (await queue.CountAsync(total: true)).Should().Be(0);
    }
}
