using FluentAssertions;

namespace Ferry.Tests;

/// <summary>Functions and class methods that take a trailing <see cref="CancellationToken"/>, which callers never send.</summary>
public sealed class CancellationTokenTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    [Fact]
    public void A_trailing_token_is_left_out_of_the_published_definition()
    {
        var app = new App("tokens");
        app.Function(Zero);
        app.Function<int, string>(One);
        app.Function<int, string, string>(Two);
        app.Function<int, string, bool, string>(Three);
        app.Cls<Generator>();

        var functions = app.ToDefinition().Functions.ToDictionary(f => f.Name);

        functions["Zero"].Parameters.Should().BeEmpty();
        functions["One"].Parameters.Select(p => (p.Name, p.Type)).Should().Equal(("x", "Int32"));
        functions["Two"].Parameters.Select(p => (p.Name, p.Type)).Should().Equal(("x", "Int32"), ("label", "String"));
        functions["Three"].Parameters.Select(p => (p.Name, p.Type)).Should().Equal(("x", "Int32"), ("label", "String"), ("loud", "Boolean"));
        functions["Generator.Generate"].Parameters.Select(p => (p.Name, p.Type)).Should().Equal(("prompt", "String"));
        functions["Generator.Count"].Parameters.Should().BeEmpty();
        functions.Values.Select(f => (f.Name, f.ReturnType)).Should().BeEquivalentTo(
            [("Zero", "String"), ("One", "String"), ("Two", "String"), ("Three", "String"), ("Generator.Generate", "String"), ("Generator.Count", "Int32")]);
    }

    [Fact]
    public void Registrations_resolve_by_their_data_parameters_with_or_without_a_token()
    {
        var app = new App("shapes");

        object[] handles =
        [
            app.Function(Answer),
            app.Function(AnswerAsync),
            app.Function<int, int>(Square),
            app.Function<int, int>(SquareAsync),
            app.Function<int, int>(x => x + 1, name: "inc"),
            app.Function((int x, int y) => x + y, name: "add"),
            app.Function((int x, int y) => Task.FromResult(x + y), name: "add_async"),
            app.Function<int, int, int, int>((x, y, z) => x + y + z, name: "sum3"),
            app.Function(Zero),
            app.Function(ZeroSync),
            app.Function((int x, CancellationToken token) => x, name: "token_sync"),
            app.Function((int x, CancellationToken token) => Task.FromResult(x), name: "token_async"),
            app.Function<int, int>((x, token) => x, name: "token_typed"),
            app.Function((int x, int y, CancellationToken token) => x + y, name: "token_add"),
            app.Function((int x, int y, int z, CancellationToken token) => Task.FromResult(x + y + z), name: "token_sum3"),
        ];

        handles.Select(h => h.GetType()).Should().Equal(
            typeof(Function<int>),
            typeof(Function<int>),
            typeof(Function<int, int>),
            typeof(Function<int, int>),
            typeof(Function<int, int>),
            typeof(Function<int, int, int>),
            typeof(Function<int, int, int>),
            typeof(Function<int, int, int, int>),
            typeof(Function<string>),
            typeof(Function<string>),
            typeof(Function<int, int>),
            typeof(Function<int, int>),
            typeof(Function<int, int>),
            typeof(Function<int, int, int>),
            typeof(Function<int, int, int, int>));
        app.ToDefinition().Functions.Select(f => (f.Name, f.Parameters.Count)).Should().Equal(
            ("Answer", 0), ("AnswerAsync", 0), ("Square", 1), ("SquareAsync", 1), ("inc", 1), ("add", 2), ("add_async", 2), ("sum3", 3),
            ("Zero", 0), ("ZeroSync", 0), ("token_sync", 1), ("token_async", 1), ("token_typed", 1), ("token_add", 2), ("token_sum3", 3));
    }

    [Fact]
    public async Task LocalAsync_passes_the_callers_token()
    {
        var app = new App("local");
        var negate = app.Function((int x, CancellationToken token) => token.IsCancellationRequested ? -x : x, name: "negate");
        var generate = app.Cls<Generator>().Method<string, string>(g => g.Generate);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        (await negate.LocalAsync(3).WaitAsync(Limit)).Should().Be(3);
        (await negate.LocalAsync(3, cancelled.Token).WaitAsync(Limit)).Should().Be(-3);
        (await generate.LocalAsync("hi").WaitAsync(Limit)).Should().Be("hi: running");
        (await generate.LocalAsync("hi", cancelled.Token).WaitAsync(Limit)).Should().Be("hi: cancelled");
    }

    [Fact]
    public void A_token_that_is_not_the_last_parameter_is_rejected_with_the_fix()
    {
        var function = () => new App("bad").Function<CancellationToken, int, int>((token, x) => x, name: "f");
        var method = () => new App("bad").Cls<TokenFirst>();

        function.Should().Throw<InvalidRequestException>().WithMessage("Parameter 1 of function 'f' is a CancellationToken*Make it the last parameter*");
        method.Should().Throw<InvalidRequestException>().WithMessage("Parameter 1 of function 'TokenFirst.Bad' is a CancellationToken*");
    }

    private static int Answer() => 42;

    private static Task<int> AnswerAsync() => Task.FromResult(42);

    private static int Square(int x) => x * x;

    private static Task<int> SquareAsync(int x) => Task.FromResult(x * x);

    private static Task<string> Zero(CancellationToken cancellationToken) => Task.FromResult(cancellationToken.CanBeCanceled.ToString());

    private static string ZeroSync(CancellationToken cancellationToken) => cancellationToken.CanBeCanceled.ToString();

    private static Task<string> One(int x, CancellationToken cancellationToken) => Task.FromResult($"{x}");

    private static string Two(int x, string label, CancellationToken cancellationToken) => $"{label}{x}";

    private static Task<string> Three(int x, string label, bool loud, CancellationToken cancellationToken) => Task.FromResult(loud ? $"{label}{x}!" : $"{label}{x}");

    public sealed class Generator
    {
        [Method]
        public Task<string> Generate(string prompt, CancellationToken cancellationToken) =>
            Task.FromResult($"{prompt}: {(cancellationToken.IsCancellationRequested ? "cancelled" : "running")}");

        [Method]
        public int Count(CancellationToken cancellationToken) => cancellationToken.CanBeCanceled ? 1 : 0;
    }

    public sealed class TokenFirst
    {
        [Method]
        public int Bad(CancellationToken cancellationToken, int x) => x;
    }
}
