namespace Ferry;

/// <summary>The result of one input of a map: a value, or the exception that input raised.</summary>
/// <typeparam name="T">The function's result type.</typeparam>
/// <param name="Index">The input's position in the map, from 0.</param>
/// <param name="Value">The result, when <see cref="IsSuccess"/>.</param>
/// <param name="Exception">The error, when not <see cref="IsSuccess"/>.</param>
public sealed record Outcome<T>(int Index, T? Value, FerryException? Exception)
{
    /// <summary>True when the input produced a value.</summary>
    public bool IsSuccess => Exception is null;

    /// <summary>The value, or the input's exception thrown.</summary>
    public T GetValueOrThrow() => Exception is null ? Value! : throw Exception;
}
