using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Ferry.Serialization;

/// <summary>Turns user values into the JSON that travels between caller and container, by their declared types.</summary>
internal static class Payload
{
    public static readonly JsonSerializerOptions Options = CreateOptions();

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.General)
        {
            IncludeFields = true,
            NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
            TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
            MaxDepth = 256,
        };
        options.MakeReadOnly();
        return options;
    }

    /// <summary>Checks at definition time that a type can travel, naming it if not.</summary>
    public static void EnsureSerializable(Type type, string role)
    {
        var reason = Unsupported(type);
        if (reason is null)
        {
            try
            {
                Options.GetTypeInfo(type);
            }
            catch (Exception e) when (e is NotSupportedException or InvalidOperationException or ArgumentException)
            {
                reason = e.Message;
            }
        }
        if (reason is not null)
        {
            throw new InvalidRequestException($"{role} has type {TypeName(type)}, which cannot be sent between processes: {reason}");
        }
    }

    private static string? Unsupported(Type type)
    {
        if (typeof(Delegate).IsAssignableFrom(type))
        {
            return "delegates hold code, not data.";
        }
        if (typeof(Stream).IsAssignableFrom(type) || type.IsPointer || type == typeof(IntPtr) || type == typeof(UIntPtr))
        {
            return "it refers to local process state.";
        }
        if (typeof(Task).IsAssignableFrom(type) || type == typeof(ValueTask) || type.IsGenericType && type.GetGenericTypeDefinition() == typeof(ValueTask<>)
            || type == typeof(CancellationToken))
        {
            return "it is not data.";
        }
        return null;
    }

    /// <summary>A thread's buffer and writer for <see cref="Pack"/>, reused while its arguments stay small.</summary>
    [ThreadStatic]
    private static (ArrayBufferWriter<byte> Buffer, Utf8JsonWriter Writer)? t_pack;

    // A buffer that grew past this for one large argument is not kept for the thread's next call.
    private const int RetainedPackBytes = 16 * 1024;

    /// <summary>
    /// Writes positional arguments as a JSON array. A map packs every input's arguments, so the thread's buffer and
    /// writer are reused, and the element is parsed once from the written bytes into an element of its own that needs
    /// no disposing (the buffer and writer of their own, and a parse and a copy, were a sixth of what a map allocated
    /// in the caller's process).
    /// </summary>
    public static JsonElement Pack(Action<Utf8JsonWriter> writeItems)
    {
        // Taken for the duration, so a serializer that packs again while writing gets a pair of its own.
        var (buffer, writer) = t_pack ?? (new ArrayBufferWriter<byte>(256), new Utf8JsonWriter(Stream.Null));
        t_pack = null;
        buffer.ResetWrittenCount();
        writer.Reset(buffer);
        writer.WriteStartArray();
        writeItems(writer);
        writer.WriteEndArray();
        writer.Flush();
        var reader = new Utf8JsonReader(buffer.WrittenSpan);
        var packed = JsonElement.ParseValue(ref reader);
        if (buffer.Capacity <= RetainedPackBytes)
        {
            t_pack = (buffer, writer);
        }
        return packed;
    }

    public static void Write<T>(Utf8JsonWriter writer, T value)
    {
        try
        {
            JsonSerializer.Serialize(writer, value, (JsonTypeInfo<T>)Options.GetTypeInfo(typeof(T)));
        }
        catch (Exception e) when (e is NotSupportedException or JsonException or InvalidOperationException)
        {
            throw new InvalidRequestException($"A value of type {TypeName(value?.GetType() ?? typeof(T))} cannot be serialized: {e.Message}");
        }
    }

    public static JsonElement ToElement<T>(T value)
    {
        try
        {
            return JsonSerializer.SerializeToElement(value, (JsonTypeInfo<T>)Options.GetTypeInfo(typeof(T)));
        }
        catch (Exception e) when (e is NotSupportedException or JsonException or InvalidOperationException)
        {
            throw new InvalidRequestException($"A value of type {TypeName(value?.GetType() ?? typeof(T))} cannot be serialized: {e.Message}");
        }
    }

    public static T Read<T>(JsonElement element) =>
        element.Deserialize((JsonTypeInfo<T>)Options.GetTypeInfo(typeof(T)))!;

    public static object? Read(JsonElement element, Type type) => element.Deserialize(Options.GetTypeInfo(type));

    public static JsonElement ToElement(object? value, Type type)
    {
        try
        {
            return JsonSerializer.SerializeToElement(value, Options.GetTypeInfo(type));
        }
        catch (Exception e) when (e is NotSupportedException or JsonException or InvalidOperationException)
        {
            throw new InvalidRequestException($"A value of type {TypeName(value?.GetType() ?? type)} cannot be serialized: {e.Message}");
        }
    }

    /// <summary>The C# spelling of a type, such as <c>List&lt;int&gt;</c>.</summary>
    public static string TypeName(Type type)
    {
        if (!type.IsGenericType)
        {
            return type.Name;
        }
        var name = type.Name[..type.Name.IndexOf('`')];
        return $"{name}<{string.Join(", ", type.GetGenericArguments().Select(TypeName))}>";
    }
}
