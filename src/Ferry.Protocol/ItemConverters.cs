using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ferry.Protocol;

// The four records a map sends once per input: InputItem (caller to server), ContainerInput (server to container),
// ContainerOutput (container to server) and OutputItem (server to caller). System.Text.Json builds a record that has
// only a constructor with parameters through a general path that keeps per-object state and boxes each argument:
// 464 bytes to read one OutputItem against 240 for the same fields read by hand, which is mostly the result's own
// element. These converters read and write exactly what the generated code does: the same camel-case names, nulls left
// out, unknown properties skipped, and a missing required property or a null where a value must be is an error.

/// <summary>Reading and writing helpers the per-input converters share.</summary>
internal static class ItemJson
{
    public static readonly JsonEncodedText Index = JsonEncodedText.Encode("index");
    public static readonly JsonEncodedText Args = JsonEncodedText.Encode("args");
    public static readonly JsonEncodedText ArgsBlob = JsonEncodedText.Encode("argsBlob");
    public static readonly JsonEncodedText InputId = JsonEncodedText.Encode("inputId");
    public static readonly JsonEncodedText Attempt = JsonEncodedText.Encode("attempt");
    public static readonly JsonEncodedText Function = JsonEncodedText.Encode("function");
    public static readonly JsonEncodedText Success = JsonEncodedText.Encode("success");
    public static readonly JsonEncodedText Result = JsonEncodedText.Encode("result");
    public static readonly JsonEncodedText ResultBlob = JsonEncodedText.Encode("resultBlob");
    public static readonly JsonEncodedText Error = JsonEncodedText.Encode("error");
    public static readonly JsonEncodedText Cursor = JsonEncodedText.Encode("cursor");

    public static void StartObject(ref Utf8JsonReader reader, Type type)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException($"A {type.Name} must be a JSON object.");
        }
    }

    /// <summary>Moves to the next property's name; false at the end of the object.</summary>
    public static bool NextProperty(ref Utf8JsonReader reader) => reader.Read() && reader.TokenType == JsonTokenType.PropertyName;

    /// <summary>Moves from a property's name to its value.</summary>
    public static void Value(ref Utf8JsonReader reader) => reader.Read();

    public static JsonElement? Element(ref Utf8JsonReader reader) =>
        reader.TokenType == JsonTokenType.Null ? null : JsonElement.ParseValue(ref reader);

    public static string? Text(ref Utf8JsonReader reader) => reader.TokenType == JsonTokenType.Null ? null : reader.GetString();

    public static string RequiredText(ref Utf8JsonReader reader, string name) =>
        reader.GetString() ?? throw new JsonException($"The property '{name}' cannot be null.");

    public static RemoteError? ReadError(ref Utf8JsonReader reader) =>
        reader.TokenType == JsonTokenType.Null ? null : JsonSerializer.Deserialize(ref reader, ProtocolJsonContext.Default.RemoteError);

    /// <summary>Skips the value of a property this version does not know.</summary>
    public static void Skip(ref Utf8JsonReader reader)
    {
        reader.Read();
        reader.Skip();
    }

    public static void Require(bool present, Type type, string name)
    {
        if (!present)
        {
            throw new JsonException($"JSON deserialization for type '{type.FullName}' was missing required properties including: '{name}'.");
        }
    }

    public static void Write(Utf8JsonWriter writer, JsonEncodedText name, JsonElement? value)
    {
        if (value is { } element)
        {
            writer.WritePropertyName(name);
            element.WriteTo(writer);
        }
    }

    public static void Write(Utf8JsonWriter writer, JsonEncodedText name, string? value)
    {
        if (value is not null)
        {
            writer.WriteString(name, value);
        }
    }

    public static void Write(Utf8JsonWriter writer, RemoteError? error)
    {
        if (error is not null)
        {
            writer.WritePropertyName(Error);
            JsonSerializer.Serialize(writer, error, ProtocolJsonContext.Default.RemoteError);
        }
    }
}

/// <summary>Reads and writes <see cref="InputItem"/> by hand (see the note at the top of this file).</summary>
internal sealed class InputItemConverter : JsonConverter<InputItem>
{
    public override InputItem Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        ItemJson.StartObject(ref reader, typeof(InputItem));
        int? index = null;
        JsonElement? args = null;
        string? blob = null;
        while (ItemJson.NextProperty(ref reader))
        {
            if (reader.ValueTextEquals(ItemJson.Index.EncodedUtf8Bytes))
            {
                ItemJson.Value(ref reader);
                index = reader.GetInt32();
            }
            else if (reader.ValueTextEquals(ItemJson.Args.EncodedUtf8Bytes))
            {
                ItemJson.Value(ref reader);
                args = ItemJson.Element(ref reader);
            }
            else if (reader.ValueTextEquals(ItemJson.ArgsBlob.EncodedUtf8Bytes))
            {
                ItemJson.Value(ref reader);
                blob = ItemJson.Text(ref reader);
            }
            else
            {
                ItemJson.Skip(ref reader);
            }
        }
        ItemJson.Require(index.HasValue, typeof(InputItem), "index");
        return new InputItem(index!.Value, args, blob);
    }

    public override void Write(Utf8JsonWriter writer, InputItem value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteNumber(ItemJson.Index, value.Index);
        ItemJson.Write(writer, ItemJson.Args, value.Args);
        ItemJson.Write(writer, ItemJson.ArgsBlob, value.ArgsBlob);
        writer.WriteEndObject();
    }
}

/// <summary>Reads and writes <see cref="ContainerInput"/> by hand (see the note at the top of this file).</summary>
internal sealed class ContainerInputConverter : JsonConverter<ContainerInput>
{
    public override ContainerInput Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        ItemJson.StartObject(ref reader, typeof(ContainerInput));
        long? inputId = null;
        int? attempt = null;
        string? function = null;
        JsonElement? args = null;
        string? blob = null;
        while (ItemJson.NextProperty(ref reader))
        {
            if (reader.ValueTextEquals(ItemJson.InputId.EncodedUtf8Bytes))
            {
                ItemJson.Value(ref reader);
                inputId = reader.GetInt64();
            }
            else if (reader.ValueTextEquals(ItemJson.Attempt.EncodedUtf8Bytes))
            {
                ItemJson.Value(ref reader);
                attempt = reader.GetInt32();
            }
            else if (reader.ValueTextEquals(ItemJson.Function.EncodedUtf8Bytes))
            {
                ItemJson.Value(ref reader);
                function = ItemJson.RequiredText(ref reader, "function");
            }
            else if (reader.ValueTextEquals(ItemJson.Args.EncodedUtf8Bytes))
            {
                ItemJson.Value(ref reader);
                args = ItemJson.Element(ref reader);
            }
            else if (reader.ValueTextEquals(ItemJson.ArgsBlob.EncodedUtf8Bytes))
            {
                ItemJson.Value(ref reader);
                blob = ItemJson.Text(ref reader);
            }
            else
            {
                ItemJson.Skip(ref reader);
            }
        }
        ItemJson.Require(inputId.HasValue, typeof(ContainerInput), "inputId");
        ItemJson.Require(attempt.HasValue, typeof(ContainerInput), "attempt");
        ItemJson.Require(function is not null, typeof(ContainerInput), "function");
        return new ContainerInput(inputId!.Value, attempt!.Value, function!, args, blob);
    }

    public override void Write(Utf8JsonWriter writer, ContainerInput value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteNumber(ItemJson.InputId, value.InputId);
        writer.WriteNumber(ItemJson.Attempt, value.Attempt);
        writer.WriteString(ItemJson.Function, value.Function);
        ItemJson.Write(writer, ItemJson.Args, value.Args);
        ItemJson.Write(writer, ItemJson.ArgsBlob, value.ArgsBlob);
        writer.WriteEndObject();
    }
}

/// <summary>Reads and writes <see cref="ContainerOutput"/> by hand (see the note at the top of this file).</summary>
internal sealed class ContainerOutputConverter : JsonConverter<ContainerOutput>
{
    public override ContainerOutput Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        ItemJson.StartObject(ref reader, typeof(ContainerOutput));
        long? inputId = null;
        int? attempt = null;
        bool? success = null;
        JsonElement? result = null;
        string? blob = null;
        RemoteError? error = null;
        while (ItemJson.NextProperty(ref reader))
        {
            if (reader.ValueTextEquals(ItemJson.InputId.EncodedUtf8Bytes))
            {
                ItemJson.Value(ref reader);
                inputId = reader.GetInt64();
            }
            else if (reader.ValueTextEquals(ItemJson.Attempt.EncodedUtf8Bytes))
            {
                ItemJson.Value(ref reader);
                attempt = reader.GetInt32();
            }
            else if (reader.ValueTextEquals(ItemJson.Success.EncodedUtf8Bytes))
            {
                ItemJson.Value(ref reader);
                success = reader.GetBoolean();
            }
            else if (reader.ValueTextEquals(ItemJson.Result.EncodedUtf8Bytes))
            {
                ItemJson.Value(ref reader);
                result = ItemJson.Element(ref reader);
            }
            else if (reader.ValueTextEquals(ItemJson.ResultBlob.EncodedUtf8Bytes))
            {
                ItemJson.Value(ref reader);
                blob = ItemJson.Text(ref reader);
            }
            else if (reader.ValueTextEquals(ItemJson.Error.EncodedUtf8Bytes))
            {
                ItemJson.Value(ref reader);
                error = ItemJson.ReadError(ref reader);
            }
            else
            {
                ItemJson.Skip(ref reader);
            }
        }
        ItemJson.Require(inputId.HasValue, typeof(ContainerOutput), "inputId");
        ItemJson.Require(attempt.HasValue, typeof(ContainerOutput), "attempt");
        ItemJson.Require(success.HasValue, typeof(ContainerOutput), "success");
        return new ContainerOutput(inputId!.Value, attempt!.Value, success!.Value, result, blob, error);
    }

    public override void Write(Utf8JsonWriter writer, ContainerOutput value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteNumber(ItemJson.InputId, value.InputId);
        writer.WriteNumber(ItemJson.Attempt, value.Attempt);
        writer.WriteBoolean(ItemJson.Success, value.Success);
        ItemJson.Write(writer, ItemJson.Result, value.Result);
        ItemJson.Write(writer, ItemJson.ResultBlob, value.ResultBlob);
        ItemJson.Write(writer, value.Error);
        writer.WriteEndObject();
    }
}

/// <summary>Reads and writes <see cref="OutputItem"/> by hand (see the note at the top of this file).</summary>
internal sealed class OutputItemConverter : JsonConverter<OutputItem>
{
    public override OutputItem Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        ItemJson.StartObject(ref reader, typeof(OutputItem));
        int? index = null;
        bool? success = null;
        JsonElement? result = null;
        string? blob = null;
        RemoteError? error = null;
        long cursor = 0;
        while (ItemJson.NextProperty(ref reader))
        {
            if (reader.ValueTextEquals(ItemJson.Index.EncodedUtf8Bytes))
            {
                ItemJson.Value(ref reader);
                index = reader.GetInt32();
            }
            else if (reader.ValueTextEquals(ItemJson.Success.EncodedUtf8Bytes))
            {
                ItemJson.Value(ref reader);
                success = reader.GetBoolean();
            }
            else if (reader.ValueTextEquals(ItemJson.Result.EncodedUtf8Bytes))
            {
                ItemJson.Value(ref reader);
                result = ItemJson.Element(ref reader);
            }
            else if (reader.ValueTextEquals(ItemJson.ResultBlob.EncodedUtf8Bytes))
            {
                ItemJson.Value(ref reader);
                blob = ItemJson.Text(ref reader);
            }
            else if (reader.ValueTextEquals(ItemJson.Error.EncodedUtf8Bytes))
            {
                ItemJson.Value(ref reader);
                error = ItemJson.ReadError(ref reader);
            }
            else if (reader.ValueTextEquals(ItemJson.Cursor.EncodedUtf8Bytes))
            {
                ItemJson.Value(ref reader);
                cursor = reader.GetInt64();
            }
            else
            {
                ItemJson.Skip(ref reader);
            }
        }
        ItemJson.Require(index.HasValue, typeof(OutputItem), "index");
        ItemJson.Require(success.HasValue, typeof(OutputItem), "success");
        return new OutputItem(index!.Value, success!.Value, result, blob, error, cursor);
    }

    public override void Write(Utf8JsonWriter writer, OutputItem value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteNumber(ItemJson.Index, value.Index);
        writer.WriteBoolean(ItemJson.Success, value.Success);
        ItemJson.Write(writer, ItemJson.Result, value.Result);
        ItemJson.Write(writer, ItemJson.ResultBlob, value.ResultBlob);
        ItemJson.Write(writer, value.Error);
        writer.WriteNumber(ItemJson.Cursor, value.Cursor);
        writer.WriteEndObject();
    }
}
