using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ferry;

/// <summary>
/// The result of a function that returns nothing (<c>void</c>, <see cref="Task"/> or <see cref="ValueTask"/>). It has
/// one value and carries no data, so such a function gets the same handle as any other:
/// <c>var save = app.Function(Save);</c> is a <c>Function&lt;string, None&gt;</c>, and <c>await save.RemoteAsync(path);</c>
/// waits for the call to finish. On the wire it is JSON <c>null</c>.
/// </summary>
[JsonConverter(typeof(NoneJsonConverter))]
public readonly struct None : IEquatable<None>
{
    /// <summary>The one value.</summary>
    public static None Value => default;

    /// <summary>A finished task of <see cref="Value"/>.</summary>
    internal static Task<None> CompletedTask { get; } = Task.FromResult(default(None));

    /// <summary>Waits for a task that returns nothing, then returns <see cref="Value"/>.</summary>
    internal static async Task<None> AfterAsync(Task task)
    {
        await task.ConfigureAwait(false);
        return default;
    }

    /// <summary>Waits for a value task that returns nothing, then returns <see cref="Value"/>.</summary>
    internal static async Task<None> AfterAsync(ValueTask task)
    {
        await task.ConfigureAwait(false);
        return default;
    }

    /// <summary>Always true: there is one <see cref="None"/>.</summary>
    /// <param name="other">Another <see cref="None"/>.</param>
    public bool Equals(None other) => true;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is None;

    /// <inheritdoc />
    public override int GetHashCode() => 0;

    /// <inheritdoc />
    public override string ToString() => "None";

    /// <summary>Always true.</summary>
    /// <param name="left">A value.</param>
    /// <param name="right">A value.</param>
    public static bool operator ==(None left, None right) => true;

    /// <summary>Always false.</summary>
    /// <param name="left">A value.</param>
    /// <param name="right">A value.</param>
    public static bool operator !=(None left, None right) => false;
}

/// <summary>Writes <see cref="None"/> as <c>null</c> and reads any JSON value as it.</summary>
internal sealed class NoneJsonConverter : JsonConverter<None>
{
    public override bool HandleNull => true;

    public override None Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        reader.Skip();
        return default;
    }

    public override void Write(Utf8JsonWriter writer, None value, JsonSerializerOptions options) => writer.WriteNullValue();
}
