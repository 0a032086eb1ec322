using System.Collections.Immutable;
using FluentAssertions;
using Ferry.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Ferry.Tests;

/// <summary>Runs the generator user programs get over small programs and compiles what it writes.</summary>
public sealed class SignatureGeneratorTests
{
    private static (string Generated, ImmutableArray<Diagnostic> Errors) Run(string source)
    {
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator)
            .Select(path => MetadataReference.CreateFromFile(path))
            .Append(MetadataReference.CreateFromFile(typeof(App).Assembly.Location))
            .Append(MetadataReference.CreateFromFile(typeof(Protocol.AppDefinition).Assembly.Location));
        var compilation = CSharpCompilation.Create(
            "UserProgram",
            [CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Latest))],
            references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        var driver = CSharpGeneratorDriver.Create(new SignatureGenerator()).RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorErrors);
        generatorErrors.Should().BeEmpty();
        var generated = driver.GetRunResult().GeneratedTrees.SingleOrDefault()?.ToString() ?? "";
        return (generated, output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToImmutableArray());
    }

    private const string Usings = """
        using System;
        using System.Collections.Generic;
        using System.Threading;
        using System.Threading.Tasks;
        using Ferry;

        """;

    [Fact]
    public void Function_MethodGroupOfFiveParameters_GetsAnOverloadWithItsExactDelegateType()
    {
        var (generated, errors) = Run(Usings + """
            public static class Program
            {
                public static Function<byte[], int, int, int, int, byte[]> Register(App app) => app.Function(Crop);

                public static Function<string, int, None> Save(App app) => app.Function(SaveAsync);

                static byte[] Crop(byte[] image, int x, int y, int w, int h) => image;

                static Task SaveAsync(string path, int count, CancellationToken cancellationToken) => Task.CompletedTask;
            }
            """);

        errors.Should().BeEmpty();
        generated.Should().Contain(
            "public static global::Ferry.Function<byte[], int, int, int, int, byte[]> Function(this global::Ferry.App app, global::System.Func<byte[], int, int, int, int, byte[]> fn,");
        generated.Should().Contain("app.Function<byte[], int, int, int, int, byte[]>(fn, options, name, expression);");
        generated.Should().Contain(
            "global::System.Func<string, int, global::System.Threading.CancellationToken, global::System.Threading.Tasks.Task> fn")
            .And.Contain("app.Function<string, int>(fn, options, name, expression);");
    }

    [Fact]
    public void Method_SelectorOfAClassMethod_GetsAnOverloadForThatClass()
    {
        var (generated, errors) = Run(Usings + """
            public sealed class Tool
            {
                [Method] public ValueTask<int> CountAsync(List<string> items, bool distinct) => ValueTask.FromResult(items.Count);
                [Method] public string Describe() => "tool";
                [Method] public void Reset() { }
                [Method, Batched(maxBatchSize: 4, waitMs: 10)] public List<int> Lengths(List<string> items) => items.ConvertAll(i => i.Length);
            }

            public static class Program
            {
                public static Function<List<string>, bool, int> Count(App app) => app.Cls<Tool>().Method(t => t.CountAsync);

                public static Function<string, int> Lengths(App app) => app.Cls<Tool>().BatchedMethod(t => t.Lengths);

                public static Function<string> Describe(App app) => app.Cls<Tool>().Method(t => t.Describe);

                public static Function<None> Reset(App app) => app.Cls<Tool>().Method(t => t.Reset);
            }
            """);

        errors.Should().BeEmpty();
        generated.Should().Contain(
            "Method(this global::Ferry.Cls<global::Tool> cls, global::System.Func<global::Tool, global::System.Func<global::System.Collections.Generic.List<string>, bool, global::System.Threading.Tasks.ValueTask<int>>> method) =>");
        generated.Should().Contain("cls.BatchedMethod<string, int>(method);");
        generated.Should().Contain("Method(this global::Ferry.Cls<global::Tool> cls, global::System.Func<global::Tool, global::System.Func<string>> method) =>",
            "a selector's result cannot be inferred even without parameters");
        generated.Should().NotContain("Action", "a method of no parameters that returns nothing binds to the SDK's own overload");
    }

    [Fact]
    public void Function_SameSignatureTwice_IsWrittenOnce()
    {
        var (generated, errors) = Run(Usings + """
            public static class Program
            {
                public static void Register(App app)
                {
                    app.Function(First);
                    app.Function(Second);
                    app.Function(Third);
                }

                static int First(string text, int count) => count;
                static int Second(string other, int number) => number;
                static int Third(string? maybe, int number) => number;
            }
            """);

        errors.Should().BeEmpty();
        generated.Split("public static ").Should().HaveCount(2, "three methods of one signature share one overload");
    }

    [Fact]
    public void Function_WhatCannotBeNamedOrInferred_IsSkippedAndKeepsExplicitTypeArguments()
    {
        var (generated, errors) = Run(Usings + """
            public static class Program
            {
                private sealed class Hidden { }

                public static void Register(App app)
                {
                    app.Function(Overloaded);
                    app.Function(Generic<int>);
                    app.Function(UsesHidden);
                    app.Function(NoArguments);
                    app.Function((int x) => x * 2, name: "double");
                    app.Function<int, int>(Overloaded);
                    app.Function<string>(NoArguments);
                }

                static int Overloaded(int x) => x;
                static int Overloaded(string s) => s.Length;
                static T Generic<T>(T value) => value;
                static int UsesHidden(Hidden hidden) => 0;
                static string NoArguments() => "";
            }
            """);

        generated.Should().BeEmpty("no call here can have, or needs, a generated overload");
        errors.Select(e => e.Location.SourceTree!.GetText().Lines[e.Location.GetLineSpan().StartLinePosition.Line].ToString().Trim())
            .Should().Equal(["app.Function(Overloaded);", "app.Function(Generic<int>);", "app.Function(UsesHidden);"],
                "the overloaded group, the generic method and the private type still need type arguments; the rest compile");
    }
}
