using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Ferry.Generators;

/// <summary>
/// Flags in the editor, before anything runs, two mistakes that otherwise surface only when Ferry runs the program: an
/// app that is defined but never run (FERRY001), and a function or class method whose parameter or result cannot
/// travel as JSON between the caller and a container (FERRY002).
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class ProgramAnalyzer : DiagnosticAnalyzer
{
    /// <summary>An <c>App</c> is created and neither <c>RunAsync</c> nor <c>RunEphemeralAsync</c> is ever called.</summary>
    public static readonly DiagnosticDescriptor MissingRun = new(
        "FERRY001",
        "The app is never run",
        "The program creates an App but never calls RunAsync, so Ferry would run nothing: end it with 'return await app.RunAsync(args);'",
        "Ferry",
        DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        customTags: WellKnownDiagnosticTags.CompilationEnd);

    /// <summary>A registered function's parameter or result is of a type that cannot be serialized to JSON.</summary>
    public static readonly DiagnosticDescriptor Unserializable = new(
        "FERRY002",
        "A function's parameter or result cannot travel to a container",
        "{0} of '{1}' is a {2}, which cannot be sent to or from a container as JSON; {3}",
        "Ferry",
        DiagnosticSeverity.Warning,
        isEnabledByDefault: true);

    private static readonly string[] Registrations = ["Function", "BatchedFunction", "Method", "BatchedMethod"];

    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => [MissingRun, Unserializable];

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            var app = start.Compilation.GetTypeByMetadataName("Ferry.App");
            if (app is null)
            {
                return;
            }
            var stream = start.Compilation.GetTypeByMetadataName("System.IO.Stream");
            var cancellationToken = start.Compilation.GetTypeByMetadataName("System.Threading.CancellationToken");
            var created = new ConcurrentQueue<(ISymbol? Method, Location Location)>();
            var run = 0;
            start.RegisterOperationAction(operation =>
            {
                if (operation.Operation is IObjectCreationOperation creation && SymbolEqualityComparer.Default.Equals(creation.Type, app))
                {
                    created.Enqueue((operation.ContainingSymbol, creation.Syntax.GetLocation()));
                }
            }, OperationKind.ObjectCreation);
            start.RegisterOperationAction(operation =>
            {
                var invocation = (IInvocationOperation)operation.Operation;
                var method = invocation.TargetMethod;
                if (method.Name is "RunAsync" or "RunEphemeralAsync" && SymbolEqualityComparer.Default.Equals(method.ContainingType, app))
                {
                    System.Threading.Interlocked.Exchange(ref run, 1);
                    return;
                }
                if (!Registrations.Contains(method.Name) || !IsFerryRegistration(method))
                {
                    return;
                }
                foreach (var target in invocation.Arguments.SelectMany(a => a.Value.DescendantsAndSelf().OfType<IMethodReferenceOperation>()).Select(r => r.Method).Distinct(SymbolEqualityComparer.Default).OfType<IMethodSymbol>())
                {
                    foreach (var parameter in target.Parameters)
                    {
                        if (SymbolEqualityComparer.Default.Equals(parameter.Type, cancellationToken))
                        {
                            continue;
                        }
                        Check(operation, invocation, $"The parameter '{parameter.Name}'", target, parameter.Type, stream);
                    }
                    Check(operation, invocation, "The result", target, Unwrap(target.ReturnType), stream);
                }
            }, OperationKind.Invocation);
            start.RegisterCompilationEndAction(end =>
            {
                // Only a program's own entry point is expected to run its app: a library or a test may build apps to inspect.
                var entryPoint = end.Compilation.GetEntryPoint(end.CancellationToken);
                if (System.Threading.Volatile.Read(ref run) == 0 && entryPoint is not null
                    && created.FirstOrDefault(c => SymbolEqualityComparer.Default.Equals(c.Method, entryPoint)) is { Location: { } location })
                {
                    end.ReportDiagnostic(Diagnostic.Create(MissingRun, location));
                }
            });
        });
    }

    private static bool IsFerryRegistration(IMethodSymbol method)
    {
        // Operations see an extension call unreduced: the extended type is its first parameter's.
        var owner = !method.IsExtensionMethod ? method.ContainingType : (method.ReducedFrom ?? method).Parameters.FirstOrDefault()?.Type;
        return owner?.ContainingNamespace?.ToDisplayString() == "Ferry" && owner.Name is "App" or "Cls";
    }

    private static void Check(OperationAnalysisContext context, IInvocationOperation call, string what, IMethodSymbol target, ITypeSymbol? type, INamedTypeSymbol? stream)
    {
        if (type is null || Why(type, stream) is not { } why)
        {
            return;
        }
        context.ReportDiagnostic(Diagnostic.Create(Unserializable, call.Syntax.GetLocation(), what, target.Name, why.Kind, why.Advice));
    }

    /// <summary>Why values of <paramref name="type"/> cannot be JSON, and what to pass instead; null when they can.</summary>
    private static (string Kind, string Advice)? Why(ITypeSymbol type, INamedTypeSymbol? stream)
    {
        if (type.TypeKind is TypeKind.Delegate)
        {
            return ("delegate", "code cannot be sent: register the code as a function of its own and call it");
        }
        if (type.TypeKind is TypeKind.Pointer or TypeKind.FunctionPointer || type.SpecialType is SpecialType.System_IntPtr or SpecialType.System_UIntPtr)
        {
            return ("pointer", "memory addresses mean nothing in another process: send the data itself");
        }
        if (type.IsRefLikeType)
        {
            return ("ref struct", "pass an array or a string instead");
        }
        for (var current = type; current is not null; current = current.BaseType)
        {
            if (SymbolEqualityComparer.Default.Equals(current, stream))
            {
                return ("stream", "pass a byte[] (or a path on a volume) instead");
            }
        }
        if (type.ToDisplayString() is "System.Type" or "System.Threading.Tasks.Task" or "System.Threading.Thread")
        {
            return (type.Name, "pass a value that describes it, such as a name");
        }
        return null;
    }

    /// <summary>The value a method's result carries: T of Task&lt;T&gt;, ValueTask&lt;T&gt; and IAsyncEnumerable&lt;T&gt;; null for none.</summary>
    private static ITypeSymbol? Unwrap(ITypeSymbol type)
    {
        if (type is INamedTypeSymbol { IsGenericType: true, TypeArguments.Length: 1 } generic
            && generic.ConstructedFrom.ToDisplayString() is "System.Threading.Tasks.Task<TResult>" or "System.Threading.Tasks.ValueTask<TResult>" or "System.Collections.Generic.IAsyncEnumerable<T>")
        {
            return generic.TypeArguments[0];
        }
        return type.ToDisplayString() is "System.Threading.Tasks.Task" or "System.Threading.Tasks.ValueTask" || type.SpecialType == SpecialType.System_Void ? null : type;
    }
}
