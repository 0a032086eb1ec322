using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Ferry.Protocol;
using Ferry.Serialization;

namespace Ferry.Hosting;

/// <summary>A local entrypoint and the command-line options its parameters become.</summary>
internal sealed class Entrypoint(string name, Delegate fn)
{
    public string Name { get; } = name;

    public Delegate Fn { get; } = fn;

    public IReadOnlyList<CliParameter> Parameters { get; } = fn.Method.GetParameters()
        .Where(p => !string.IsNullOrEmpty(p.Name) && p.ParameterType != typeof(CancellationToken))
        .Select(CliParameter.From).ToList();

    /// <summary>Parses <paramref name="args"/> into the entrypoint's parameters, ready to run.</summary>
    /// <exception cref="UsageException">The arguments do not fit the parameters.</exception>
    public Func<CancellationToken, Task<int>> Bind(string[] args)
    {
        var values = CommandLine.Parse(Name, Parameters, args);
        return cancellationToken => InvokeAsync(values, cancellationToken);
    }

    public Task<int> InvokeAsync(string[] args, CancellationToken cancellationToken) => Bind(args)(cancellationToken);

    private async Task<int> InvokeAsync(object?[] values, CancellationToken cancellationToken)
    {
        var all = Fn.Method.GetParameters().Select(p => p.ParameterType == typeof(CancellationToken) ? (object?)cancellationToken : null).ToArray();
        var next = 0;
        for (var i = 0; i < all.Length; i++)
        {
            if (Fn.Method.GetParameters()[i].ParameterType != typeof(CancellationToken))
            {
                all[i] = values[next++];
            }
        }
        object? result;
        try
        {
            result = Fn.DynamicInvoke(all);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
        switch (result)
        {
            case Task<int> exitCode:
                return await exitCode.ConfigureAwait(false);
            case Task task:
                await task.ConfigureAwait(false);
                return 0;
            case int code:
                return code;
            default:
                return 0;
        }
    }
}

/// <summary>One parameter exposed as a command-line option: <c>--kebab-name value</c>.</summary>
internal sealed record CliParameter(string Name, Type Type, bool HasDefault, object? Default)
{
    public string Option => "--" + Kebab(Name);

    public static CliParameter From(ParameterInfo p) =>
        new(p.Name!, p.ParameterType, p.HasDefaultValue, p.HasDefaultValue ? p.DefaultValue : null);

    public ParameterDefinition ToDefinition() => new(
        Name,
        Payload.TypeName(Type),
        !HasDefault,
        HasDefault && Default is not null ? Payload.ToElement(Default, Default.GetType()) : null);

    private static string Kebab(string name)
    {
        var builder = new System.Text.StringBuilder();
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsUpper(c) && i > 0 && name[i - 1] != '_')
            {
                builder.Append('-');
            }
            builder.Append(c == '_' ? '-' : char.ToLowerInvariant(c));
        }
        return builder.ToString();
    }
}

/// <summary>
/// Parses <c>--option value</c> arguments into typed values. Written here because the SDK may depend on nothing but
/// the protocol, and the rules are Modal's: kebab-case options, <c>--flag</c>/<c>--no-flag</c> for booleans, and
/// every parameter without a default is required.
/// </summary>
internal static class CommandLine
{
    public static object?[] Parse(string target, IReadOnlyList<CliParameter> parameters, string[] args)
    {
        var values = new object?[parameters.Count];
        var seen = new bool[parameters.Count];
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg is "--help" or "-h")
            {
                throw new UsageException(Usage(target, parameters));
            }
            var (option, inline) = arg.Split('=', 2) is [var o, var v] ? (o, v) : (arg, null);
            var negated = false;
            var index = IndexOf(parameters, option);
            if (index < 0 && option.StartsWith("--no-", StringComparison.Ordinal))
            {
                index = IndexOf(parameters, "--" + option[5..]);
                negated = index >= 0 && IsBool(parameters[index].Type);
                if (!negated)
                {
                    index = -1;
                }
            }
            if (index < 0)
            {
                throw new UsageException($"Unknown option '{arg}' for {target}.{Environment.NewLine}{Usage(target, parameters)}");
            }
            var parameter = parameters[index];
            string? text;
            if (IsBool(parameter.Type) && inline is null && (i + 1 >= args.Length || !bool.TryParse(args[i + 1], out _)))
            {
                text = negated ? "false" : "true";
            }
            else
            {
                text = inline ?? (i + 1 < args.Length ? args[++i] : throw new UsageException($"Option {parameter.Option} needs a value."));
            }
            values[index] = Convert(parameter, text);
            seen[index] = true;
        }
        var missing = parameters.Where((p, i) => !seen[i] && !p.HasDefault).Select(p => p.Option).ToList();
        if (missing.Count > 0)
        {
            throw new UsageException($"Missing required option{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)} for {target}.{Environment.NewLine}{Usage(target, parameters)}");
        }
        for (var i = 0; i < parameters.Count; i++)
        {
            if (!seen[i])
            {
                values[i] = parameters[i].Default is DBNull or Missing ? null : parameters[i].Default;
            }
        }
        return values;
    }

    private static int IndexOf(IReadOnlyList<CliParameter> parameters, string option)
    {
        for (var i = 0; i < parameters.Count; i++)
        {
            if (string.Equals(parameters[i].Option, option, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }
        return -1;
    }

    private static bool IsBool(Type type) => (Nullable.GetUnderlyingType(type) ?? type) == typeof(bool);

    private static object? Convert(CliParameter parameter, string text)
    {
        var type = Nullable.GetUnderlyingType(parameter.Type) ?? parameter.Type;
        try
        {
            // One return per type, not shared conditionals: a conditional's common type would convert the value silently
            // (DateTime to DateTimeOffset, say).
            if (type == typeof(string))
            {
                return text;
            }
            if (type.IsEnum)
            {
                return ParseEnum(type, text);
            }
            if (type == typeof(DateTime))
            {
                return DateTime.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
            }
            if (type == typeof(DateTimeOffset))
            {
                return DateTimeOffset.Parse(text, CultureInfo.InvariantCulture);
            }
            if (type == typeof(DateOnly))
            {
                return DateOnly.Parse(text, CultureInfo.InvariantCulture);
            }
            if (type == typeof(TimeOnly))
            {
                return TimeOnly.Parse(text, CultureInfo.InvariantCulture);
            }
            if (type == typeof(TimeSpan))
            {
                return ParseDuration(text);
            }
            if (type == typeof(Guid))
            {
                return Guid.Parse(text);
            }
            if (typeof(IConvertible).IsAssignableFrom(type))
            {
                return System.Convert.ChangeType(text, type, CultureInfo.InvariantCulture);
            }
            return JsonSerializer.Deserialize(text, Payload.Options.GetTypeInfo(parameter.Type));
        }
        catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException or ArgumentException or JsonException)
        {
            throw new UsageException($"Option {parameter.Option} expects {Expected(type)}, not '{text}'.");
        }
    }

    /// <summary>What a value of <paramref name="type"/> looks like on the command line, for error messages.</summary>
    private static string Expected(Type type) => type switch
    {
        _ when type.IsEnum => $"one of {string.Join(", ", Enum.GetNames(type))}{(type.IsDefined(typeof(FlagsAttribute), inherit: false) ? " (several joined by commas)" : "")}",
        _ when type == typeof(DateTime) => "a date and time such as 2026-11-29 or 2026-11-29T10:30:00Z",
        _ when type == typeof(DateTimeOffset) => "a date and time with an offset such as 2026-11-29T10:30:00+01:00",
        _ when type == typeof(DateOnly) => "a date such as 2026-11-29",
        _ when type == typeof(TimeOnly) => "a time of day such as 10:30 or 22:15:05",
        _ when type == typeof(TimeSpan) => "a duration such as 90s, 5m, 2h, 1d, 250ms or 01:30:00",
        _ when type == typeof(Guid) => "a GUID such as 0f8fad5b-d9cb-469f-a165-70867728950e",
        _ => "a " + Payload.TypeName(type),
    };

    /// <summary>An enum value by name, case-insensitive, with <c>-</c> or <c>_</c> between words; numbers are not names.</summary>
    private static object ParseEnum(Type type, string text)
    {
        var names = type.IsDefined(typeof(FlagsAttribute), inherit: false) ? text.Split(',', StringSplitOptions.TrimEntries) : [text.Trim()];
        ulong bits = 0;
        foreach (var name in names)
        {
            var normalized = name.Replace("-", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal);
            var match = Enum.GetNames(type).FirstOrDefault(n => string.Equals(n.Replace("_", "", StringComparison.Ordinal), normalized, StringComparison.OrdinalIgnoreCase))
                ?? throw new FormatException($"'{name}' is not a {type.Name}.");
            bits |= System.Convert.ToUInt64(Enum.Parse(type, match), CultureInfo.InvariantCulture);
        }
        return Enum.ToObject(type, bits);
    }

    /// <summary>A duration: a number with a unit (<c>250ms</c>, <c>90s</c>, <c>5m</c>, <c>2h</c>, <c>1d</c>), or .NET's <c>[d.]hh:mm[:ss]</c>.</summary>
    private static TimeSpan ParseDuration(string text)
    {
        var trimmed = text.Trim();
        (string Suffix, Func<double, TimeSpan> Make)[] units =
            [("ms", TimeSpan.FromMilliseconds), ("s", TimeSpan.FromSeconds), ("m", TimeSpan.FromMinutes), ("h", TimeSpan.FromHours), ("d", TimeSpan.FromDays)];
        foreach (var (suffix, make) in units)
        {
            if (trimmed.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(trimmed[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var amount)
                && double.IsFinite(amount))
            {
                return make(amount);
            }
        }
        return TimeSpan.Parse(trimmed, CultureInfo.InvariantCulture);
    }

    public static string Usage(string target, IReadOnlyList<CliParameter> parameters)
    {
        var lines = new List<string> { $"Usage: ferry run <app>::{target} -- [options]" };
        foreach (var p in parameters)
        {
            var shown = IsBool(p.Type) ? $"{p.Option} / --no-{p.Option[2..]}" : $"{p.Option} <{Payload.TypeName(p.Type)}>";
            lines.Add($"  {shown,-36} {(p.HasDefault ? $"default: {p.Default ?? "null"}" : "required")}");
        }
        return string.Join(Environment.NewLine, lines);
    }
}

/// <summary>The command line given to an entrypoint or function was wrong; the message says how.</summary>
internal sealed class UsageException(string message) : Exception(message);
