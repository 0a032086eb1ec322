using System.Collections.Immutable;
using FluentAssertions;
using Ferry.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace Ferry.Tests;

/// <summary>Runs the analyzer user programs get over small programs, after the signature generator, as a build does.</summary>
public sealed class ProgramAnalyzerTests
{
    private static async Task<ImmutableArray<Diagnostic>> AnalyzeAsync(string source)
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
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        CSharpGeneratorDriver.Create(new SignatureGenerator()).RunGeneratorsAndUpdateCompilation(compilation, out var generated, out _);
        generated.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Should().BeEmpty();
        var all = await generated.WithAnalyzers([new ProgramAnalyzer()]).GetAllDiagnosticsAsync();
        return [.. all.Where(d => d.Id.StartsWith("FERRY", StringComparison.Ordinal) || d.Id == "AD0001")];
    }

    [Fact]
    public async Task Analyze_AppNeverRun_ReportsFerry001AtTheApp()
    {
        var diagnostics = await AnalyzeAsync("""
            using Ferry;
            var app = new App("norun");
            var square = app.Function(Square);
            static int Square(int x) => x * x;
            """);

        diagnostics.Should().ContainSingle().Which.Id.Should().Be("FERRY001");
        diagnostics[0].GetMessage(System.Globalization.CultureInfo.InvariantCulture).Should().Be(
            "The program creates an App but never calls RunAsync, so Ferry would run nothing: end it with 'return await app.RunAsync(args);'");
        diagnostics[0].Location.GetLineSpan().StartLinePosition.Line.Should().Be(1);
    }

    [Theory]
    [InlineData("return await app.RunAsync(args);")]
    [InlineData("await using var run = await app.RunEphemeralAsync(); return 0;")]
    public async Task Analyze_AppRun_ReportsNothing(string run)
    {
        var diagnostics = await AnalyzeAsync($$"""
            using Ferry;
            var app = new App("runs");
            var square = app.Function(Square);
            {{run}}
            static int Square(int x) => x * x;
            """);

        diagnostics.Should().BeEmpty();
    }

    [Fact]
    public async Task Analyze_UnserializableParametersAndResults_ReportFerry002NamingEach()
    {
        var diagnostics = await AnalyzeAsync("""
            using System;
            using System.IO;
            using System.Threading;
            using System.Threading.Tasks;
            using Ferry;
            var app = new App("types");
            app.Function(Upload);
            app.Function(Open);
            app.Function(Apply);
            app.Cls<Model>().Method(m => m.Load);
            app.Function(Fine);
            return await app.RunAsync(args);

            static int Upload(FileStream file) => 0;
            static Task<Stream> Open(string path) => Task.FromResult<Stream>(Stream.Null);
            static int Apply(Func<int, int> f, int x) => f(x);
            static async Task<byte[]> Fine(byte[] data, string name, CancellationToken cancellationToken) { await Task.Yield(); return data; }

            public sealed class Model
            {
                [Method]
                public int Load(IntPtr handle) => 0;
            }
            """);

        diagnostics.Select(d => d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)).Should().BeEquivalentTo(
            "The parameter 'file' of 'Upload' is a stream, which cannot be sent to or from a container as JSON; pass a byte[] (or a path on a volume) instead",
            "The result of 'Open' is a stream, which cannot be sent to or from a container as JSON; pass a byte[] (or a path on a volume) instead",
            "The parameter 'f' of 'Apply' is a delegate, which cannot be sent to or from a container as JSON; code cannot be sent: register the code as a function of its own and call it",
            "The parameter 'handle' of 'Load' is a pointer, which cannot be sent to or from a container as JSON; memory addresses mean nothing in another process: send the data itself");
        diagnostics.Should().OnlyContain(d => d.Id == "FERRY002");
    }
}
