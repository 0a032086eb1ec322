using System.Net;
using System.Net.Http.Json;
using FluentAssertions;
using Ferry.Protocol;
using Ferry.TestApp;

namespace Ferry.IntegrationTests;

/// <summary>Dicts, Queues and Secrets on a server whose store is PostgreSQL: races resolve once, and all outlive a restart.</summary>
public sealed class PostgresObjectTests(PostgresServerFixture fixture) : IClassFixture<PostgresServerFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);

    [PostgresFact]
    public async Task Objects_OnPostgres_RaceOnceAndSurviveARestart()
    {
        await fixture.NewAppAsync();
        var name = "pg-" + Guid.NewGuid().ToString("N")[..8];
        using var http = fixture.NewHttpClient();
        using (var created = await http.PostAsJsonAsync(Routes.Secrets, new CreateSecretRequest(ObjectFunctions.SecretName, new Dictionary<string, string> { ["API_KEY"] = "pg-value-3c" }, Force: true),
            ProtocolJsonContext.Default.CreateSecretRequest))
        {
            created.StatusCode.Should().Be(HttpStatusCode.OK);
        }
        var dict = Dict.FromName(name, createIfMissing: true);
        var queue = Queue.FromName(name, createIfMissing: true);
        await dict.CountAsync();
        await queue.CountAsync();
        using var timeout = new CancellationTokenSource(Limit);

        var claims = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => dict.PutAsync("lock", i, skipIfExists: true, timeout.Token)));
        var total = 0;
        var takers = Enumerable.Range(0, 8).Select(async _ =>
        {
            var mine = new List<int>();
            while (Volatile.Read(ref total) < 700)
            {
                var batch = await queue.GetManyAsync<int>(7, TimeSpan.FromSeconds(1), cancellationToken: timeout.Token);
                mine.AddRange(batch);
                Interlocked.Add(ref total, batch.Count);
            }
            return mine;
        }).ToList();
        await queue.PutManyAsync(Enumerable.Range(0, 700), cancellationToken: timeout.Token);
        var taken = await Task.WhenAll(takers);
        await queue.PutManyAsync(["kept"], partition: "side", cancellationToken: timeout.Token);

        await fixture.RestartServerAsync();
        await fixture.NewAppAsync();

        claims.Count(c => c).Should().Be(1);
        taken.SelectMany(t => t).Order().Should().Equal(Enumerable.Range(0, 700));
        (await dict.GetAsync<int>("lock", cancellationToken: timeout.Token)).Should().Be(Array.IndexOf(claims, true));
        (await queue.GetAsync<string>(TimeSpan.Zero, "side", timeout.Token)).Should().Be("kept");
        (await fixture.Functions.Objects.SecretEnv.RemoteAsync("API_KEY", timeout.Token)).Should().Be("pg-value-3c");
    }
}
