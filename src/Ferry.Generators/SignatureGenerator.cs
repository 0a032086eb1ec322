using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Ferry.Generators;

/// <summary>
/// Lets <c>app.Function(Crop)</c> and <c>cls.Method(m =&gt; m.Crop)</c> compile without type arguments. C# cannot infer
/// a generic delegate's parameter types from a method group, so the SDK's generic overloads do not apply to such a
/// call; the compiler then looks for extension methods. This generator finds those calls, reads the method's signature,
/// and writes an <c>internal</c> extension overload whose parameter is the exact delegate type and which forwards to the
/// SDK's generic overload with the type arguments spelled out.
/// </summary>
/// <remarks>
/// Overloaded or generic methods, <c>ref</c>/<c>out</c>/<c>in</c>/<c>params</c> parameters and types the generated file
/// cannot name (private or file-local types) are skipped: those calls keep their explicit type arguments. Functions of
/// no parameters, and class methods of no parameters that return nothing, are skipped too, because the SDK's own
/// overloads already bind them.
/// </remarks>
[Generator(LanguageNames.CSharp)]
public sealed class SignatureGenerator : IIncrementalGenerator
{
    /// <summary>The name of the generated class of extension methods.</summary>
    public const string ClassName = "FerryInferredSignatures";

    private const int MaxParameters = 16;

    private static readonly SymbolDisplayFormat TypeFormat = SymbolDisplayFormat.FullyQualifiedFormat
        .WithMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.EscapeKeywordIdentifiers | SymbolDisplayMiscellaneousOptions.UseSpecialTypes);

    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var calls = context.SyntaxProvider.CreateSyntaxProvider(
                static (node, _) => node is InvocationExpressionSyntax
                {
                    Expression: MemberAccessExpressionSyntax { Name: IdentifierNameSyntax { Identifier.ValueText: "Function" or "BatchedFunction" or "Method" or "BatchedMethod" } },
                    ArgumentList.Arguments.Count: > 0,
                },
                static (syntax, cancellationToken) => Describe((InvocationExpressionSyntax)syntax.Node, syntax.SemanticModel, cancellationToken))
            .Where(static overload => overload is not null)
            .Select(static (overload, _) => overload!)
            .Collect();
        context.RegisterSourceOutput(calls, static (output, overloads) =>
        {
            if (overloads.Length > 0)
            {
                output.AddSource($"{ClassName}.g.cs", Emit(overloads));
            }
        });
    }

    /// <summary>The extension overload a call needs, or null when it needs none or cannot have one.</summary>
    internal static Overload? Describe(InvocationExpressionSyntax call, SemanticModel model, CancellationToken cancellationToken)
    {
        var access = (MemberAccessExpressionSyntax)call.Expression;
        var kind = access.Name.Identifier.ValueText;
        if (model.GetTypeInfo(access.Expression, cancellationToken).Type is not INamedTypeSymbol receiver || !IsFerry(receiver))
        {
            return null;
        }
        var argument = call.ArgumentList.Arguments[0].Expression;
        switch (kind)
        {
            case "Function" or "BatchedFunction" when receiver.Name == "App" && receiver.Arity == 0:
            {
                var group = model.GetMemberGroup(argument, cancellationToken);
                if (group.Length != 1 || group[0] is not IMethodSymbol method)
                {
                    return null;
                }
                return kind == "Function" ? ForFunction(method, null) : ForBatched(method, null);
            }
            case "Method" or "BatchedMethod" when receiver.Name == "Cls" && receiver.Arity == 1:
            {
                var owner = receiver.TypeArguments[0];
                if (!Nameable(owner) || Picked(argument) is not { } name)
                {
                    return null;
                }
                var candidates = Members(owner, name).ToList();
                if (candidates.Count != 1)
                {
                    return null;
                }
                return kind == "Method" ? ForFunction(candidates[0], owner) : ForBatched(candidates[0], owner);
            }
            default:
                return null;
        }
    }

    private static bool IsFerry(INamedTypeSymbol type) =>
        type.ContainingNamespace is { Name: "Ferry", ContainingNamespace.IsGlobalNamespace: true }
        && type.ContainingAssembly?.Name == "Ferry";

    /// <summary>The method name a selector such as <c>m =&gt; m.Crop</c> reads off its parameter.</summary>
    private static string? Picked(ExpressionSyntax selector) => selector switch
    {
        SimpleLambdaExpressionSyntax { ExpressionBody: MemberAccessExpressionSyntax { Expression: IdentifierNameSyntax target, Name: IdentifierNameSyntax member } } lambda
            when target.Identifier.ValueText == lambda.Parameter.Identifier.ValueText => member.Identifier.ValueText,
        _ => null,
    };

    /// <summary>The instance methods of a name on a type and its base types, as a method group would see them.</summary>
    private static IEnumerable<IMethodSymbol> Members(ITypeSymbol type, string name)
    {
        var seen = new HashSet<string>();
        for (var current = type; current is not null; current = current.BaseType)
        {
            foreach (var method in current.GetMembers(name).OfType<IMethodSymbol>())
            {
                if (!method.IsStatic && method.MethodKind == MethodKind.Ordinary && seen.Add(method.ToDisplayString(TypeFormat)) && method.OverriddenMethod is null)
                {
                    yield return method;
                }
            }
        }
    }

    private static Overload? ForFunction(IMethodSymbol method, ITypeSymbol? owner)
    {
        if (method.IsGenericMethod || method.Parameters.Any(p => p.RefKind != RefKind.None || p.IsParams))
        {
            return null;
        }
        var parameters = method.Parameters.Select(p => p.Type).ToList();
        var token = parameters.Count > 0 && IsToken(parameters[parameters.Count - 1]);
        var sent = token ? parameters.Take(parameters.Count - 1).ToList() : parameters;
        var (shape, result) = ShapeOf(method);
        // Without parameters the SDK's own overloads infer a function's result; a selector lambda's they cannot, unless
        // the method returns nothing (those overloads are not generic).
        if (sent.Count == 0 && (owner is null || result is null) || parameters.Count > MaxParameters || sent.Any(IsToken))
        {
            return null;
        }
        if (!sent.All(Nameable) || result is not null && !Nameable(result))
        {
            return null;
        }
        var inputs = sent.Select(Name).Concat(token ? ["global::System.Threading.CancellationToken"] : []).ToList();
        var resultName = result is null ? null : Name(result);
        var returns = shape switch
        {
            "value" => resultName,
            _ when resultName is not null => string.Format(System.Globalization.CultureInfo.InvariantCulture, shape, resultName),
            _ => shape,
        };
        var delegateType = shape == "void"
            ? $"global::System.Action<{string.Join(", ", inputs)}>"
            : $"global::System.Func<{string.Join(", ", inputs.Concat([returns]))}>";
        var typeArguments = string.Join(", ", sent.Select(Name).Concat(resultName is null ? [] : [resultName]));
        return new Overload(owner is null ? "Function" : "Method", owner is null ? null : Name(owner), delegateType,
            $"global::Ferry.Function<{string.Join(", ", sent.Select(Name).Concat([resultName ?? "global::Ferry.None"]))}>", typeArguments);
    }

    private static Overload? ForBatched(IMethodSymbol method, ITypeSymbol? owner)
    {
        if (method.IsGenericMethod || method.Parameters.Length != 1 || method.Parameters[0].RefKind != RefKind.None)
        {
            return null;
        }
        var (shape, result) = ShapeOf(method);
        if (shape is not ("value" or "global::System.Threading.Tasks.Task<{0}>") || ItemOfList(method.Parameters[0].Type) is not { } item || ItemOfList(result) is not { } resultItem
            || !Nameable(item) || !Nameable(resultItem))
        {
            return null;
        }
        var list = $"global::System.Collections.Generic.List<{Name(item)}>";
        var results = $"global::System.Collections.Generic.List<{Name(resultItem)}>";
        var delegateType = shape == "value" ? $"global::System.Func<{list}, {results}>" : $"global::System.Func<{list}, global::System.Threading.Tasks.Task<{results}>>";
        return new Overload(owner is null ? "BatchedFunction" : "BatchedMethod", owner is null ? null : Name(owner), delegateType,
            $"global::Ferry.Function<{Name(item)}, {Name(resultItem)}>", $"{Name(item)}, {Name(resultItem)}");
    }

    private static ITypeSymbol? ItemOfList(ITypeSymbol? type) =>
        type is INamedTypeSymbol { Arity: 1, Name: "List" } named && named.ContainingNamespace.ToDisplayString() == "System.Collections.Generic"
            ? named.TypeArguments[0]
            : null;

    /// <summary>
    /// How a method returns: <c>void</c>, a <c>value</c>, or the task type it returns. For a task of a value the shape
    /// is that task's generic form and the result is the value's type.
    /// </summary>
    private static (string Shape, ITypeSymbol? Result) ShapeOf(IMethodSymbol method)
    {
        if (method.ReturnsVoid)
        {
            return ("void", null);
        }
        var returns = method.ReturnType;
        if (returns is INamedTypeSymbol named && named.ContainingNamespace.ToDisplayString() == "System.Threading.Tasks" && named.Name is "Task" or "ValueTask")
        {
            if (named.Arity == 0)
            {
                return ($"global::System.Threading.Tasks.{named.Name}", null);
            }
            var inner = named.TypeArguments[0];
            return (named.Name == "Task" ? "global::System.Threading.Tasks.Task<{0}>" : "global::System.Threading.Tasks.ValueTask<{0}>", inner);
        }
        return ("value", returns);
    }

    private static bool IsToken(ITypeSymbol type) =>
        type is INamedTypeSymbol { Name: "CancellationToken", Arity: 0 } named && named.ContainingNamespace.ToDisplayString() == "System.Threading";

    /// <summary>True when a file in the global namespace can name the type: no private, protected or file-local type in it.</summary>
    private static bool Nameable(ITypeSymbol type)
    {
        switch (type)
        {
            case IArrayTypeSymbol array:
                return Nameable(array.ElementType);
            case INamedTypeSymbol named when !named.IsAnonymousType && named.TypeKind != TypeKind.Error:
                for (INamedTypeSymbol? current = named; current is not null; current = current.ContainingType)
                {
                    if (current.DeclaredAccessibility is not (Accessibility.Public or Accessibility.Internal or Accessibility.ProtectedOrInternal)
                        || current.IsFileLocal)
                    {
                        return false;
                    }
                }
                return named.TypeArguments.All(Nameable);
            default:
                return false;
        }
    }

    private static string Name(ITypeSymbol type) => type.ToDisplayString(TypeFormat);

    internal static string Emit(ImmutableArray<Overload> overloads)
    {
        var code = new StringBuilder();
        code.AppendLine("// <auto-generated>Written by Ferry.Generators: overloads that let Ferry registrations compile without type arguments.</auto-generated>");
        // Oblivious nullability: a method taking string and one taking string? share one overload without warnings.
        code.AppendLine("#nullable disable");
        code.AppendLine();
        code.AppendLine($"internal static class {ClassName}");
        code.AppendLine("{");
        foreach (var overload in overloads.Distinct().OrderBy(o => o.Kind, System.StringComparer.Ordinal).ThenBy(o => o.Owner, System.StringComparer.Ordinal).ThenBy(o => o.DelegateType, System.StringComparer.Ordinal))
        {
            code.AppendLine(overload.Kind switch
            {
                "Function" => $"""
                        public static {overload.Handle} Function(this global::Ferry.App app, {overload.DelegateType} fn, global::Ferry.FunctionOptions options = null, string name = null, [global::System.Runtime.CompilerServices.CallerArgumentExpression("fn")] string expression = "") =>
                            app.Function<{overload.TypeArguments}>(fn, options, name, expression);
                    """,
                "BatchedFunction" => $"""
                        public static {overload.Handle} BatchedFunction(this global::Ferry.App app, {overload.DelegateType} fn, int maxBatchSize, global::System.TimeSpan wait, global::Ferry.FunctionOptions options = null, string name = null, [global::System.Runtime.CompilerServices.CallerArgumentExpression("fn")] string expression = "") =>
                            app.BatchedFunction<{overload.TypeArguments}>(fn, maxBatchSize, wait, options, name, expression);
                    """,
                "Method" => $"""
                        public static {overload.Handle} Method(this global::Ferry.Cls<{overload.Owner}> cls, global::System.Func<{overload.Owner}, {overload.DelegateType}> method) =>
                            cls.Method<{overload.TypeArguments}>(method);
                    """,
                _ => $"""
                        public static {overload.Handle} BatchedMethod(this global::Ferry.Cls<{overload.Owner}> cls, global::System.Func<{overload.Owner}, {overload.DelegateType}> method) =>
                            cls.BatchedMethod<{overload.TypeArguments}>(method);
                    """,
            });
            code.AppendLine();
        }
        code.AppendLine("}");
        return code.ToString();
    }
}

/// <summary>One generated extension overload. Equal overloads are written once.</summary>
/// <param name="Kind">Function, BatchedFunction, Method or BatchedMethod.</param>
/// <param name="Owner">The class, for a method; null for a function.</param>
/// <param name="DelegateType">The exact delegate type the overload takes.</param>
/// <param name="Handle">The handle type it returns.</param>
/// <param name="TypeArguments">The type arguments it forwards with.</param>
internal sealed record Overload(string Kind, string? Owner, string DelegateType, string Handle, string TypeArguments);
