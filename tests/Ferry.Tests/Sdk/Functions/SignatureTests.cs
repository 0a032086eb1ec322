using System.Text.Json;
using FluentAssertions;

namespace Ferry.Tests;

/// <summary>The generated arity family, exercised in this process: every argument arrives, in order, and no-result shapes give <see cref="None"/>.</summary>
public sealed class SignatureTests
{
    private static string Sixteen(int a, int b, int c, int d, int e, int f, int g, int h, int i, int j, int k, int l, int m, int n, int o, string p) =>
        string.Join(",", a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p);

    private static Task<int> FifteenAndToken(int a, int b, int c, int d, int e, int f, int g, int h, int i, int j, int k, int l, int m, int n, int o, CancellationToken cancellationToken) =>
        Task.FromResult(cancellationToken.IsCancellationRequested ? -1 : a + b + c + d + e + f + g + h + i + j + k + l + m + n + o);

    [Fact]
    public async Task Function_SixteenParameters_EveryArgumentArrivesInOrderLocallyAndThroughJson()
    {
        var app = new App("sigs");
        var sixteen = app.Function(Sixteen);
        var json = JsonSerializer.SerializeToElement(new object[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, "sixteen" });

        var local = await sixteen.LocalAsync(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, "sixteen");
        var remoteShaped = await sixteen.InvokeJsonAsync(json, CancellationToken.None);

        local.Should().Be("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,sixteen");
        remoteShaped.GetString().Should().Be(local);
        app.ToDefinition().Functions.Single().Parameters.Select(p => p.Name).Should().Equal("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p");
    }

    [Fact]
    public async Task Function_FifteenParametersAndAToken_TheTokenIsSuppliedNotSent()
    {
        var app = new App("sigs");
        var fifteen = app.Function(FifteenAndToken);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        var sum = await fifteen.LocalAsync(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        var withCancelledToken = await fifteen.LocalAsync(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, cancelled.Token);

        sum.Should().Be(120);
        withCancelledToken.Should().Be(-1);
        app.ToDefinition().Functions.Single().Parameters.Should().HaveCount(15);
    }

    [Fact]
    public async Task Function_VoidTaskAndValueTaskBodies_RunToTheEndAndAnswerNullOnTheWire()
    {
        var app = new App("sigs");
        var calls = new List<string>();
        var sync = app.Function((string s) => calls.Add("void " + s), name: "sync");
        var task = app.Function(async (string s, int n) => { await Task.Yield(); calls.Add($"task {s} {n}"); }, name: "task");
        // A lambda that returns a ValueTask without being async also fits Func<T1, T2, TResult>: it takes type arguments.
        var valueTask = app.Function<string>((string s, CancellationToken ct) => { calls.Add("value task " + s); return ValueTask.CompletedTask; }, name: "value_task");

        var results = new[]
        {
            await sync.LocalAsync("a"),
            await task.LocalAsync("b", 2),
            await valueTask.LocalAsync("c"),
        };
        var wire = await task.InvokeJsonAsync(JsonSerializer.SerializeToElement(new object[] { "d", 4 }), CancellationToken.None);

        results.Should().Equal(None.Value, None.Value, None.Value);
        calls.Should().Equal("void a", "task b 2", "value task c", "task d 4");
        wire.ValueKind.Should().Be(JsonValueKind.Null);
        app.ToDefinition().Functions.Select(f => f.ReturnType).Should().Equal("None", "None", "None");
    }

    [Fact]
    public async Task Function_AsyncLambdaReturningAValue_BindsTheTaskOverloadAndKeepsTheResult()
    {
        var app = new App("sigs");

        Function<int, int> twice = app.Function(async (int x) => { await Task.Yield(); return x * 2; }, name: "twice");

        (await twice.LocalAsync(21)).Should().Be(42);
        app.ToDefinition().Functions.Single().ReturnType.Should().Be("Int32");
    }

    [Fact]
    public void Function_LambdaReturningAValueTask_IsRejectedWithAMessageNamingTheType()
    {
        var act = () => new App("sigs").Function((int x) => ValueTask.FromResult(x), name: "pending");

        act.Should().Throw<InvalidRequestException>().WithMessage("The result of function 'pending' has type ValueTask<Int32>, which cannot be sent between processes: it is not data.");
    }
}
