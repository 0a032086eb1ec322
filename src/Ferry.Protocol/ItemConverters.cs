using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ferry.Protocol;

// The four records a map sends once per input: InputItem (caller to server), ContainerInput (server to container),
// ContainerOutput (container to server) and OutputItem (server to caller). System.Text.Json builds a record that has
// only a constructor with parameters through a general path that keeps per-object state and boxes each argument:
// 464 bytes to read one OutputItem against 240 for the same fields read by hand, which is mostly the result's own
// element. These converters read and write exactly what the generated code does: the same camel-case names, nulls left
// out, properties the record does not have skipped, and a missing required property or a null where a value must be
// is an error.

/// <summary>The properties of the per-input records, as flags: which ones a record has, and which it requires.</summary>
[Flags]
internal enum ItemField
{
    Index = 1,
    InputId = 2,
    Attempt = 4,
    Function = 8,
    Args = 16,
    ArgsBlob = 32,
    Success = 64,
    Result = 128,
    ResultBlob = 256,
    Error = 512,
    Cursor = 1024,
}

/// <summary>The properties of one per-input record as read, before the record is built from them.</summary>
internal struct ItemFields
{
    private static readonly (JsonEncodedText Name, ItemField Field)[] Names =
    [
        (JsonEncodedText.Encode("index"), ItemField.Index),
        (JsonEncodedText.Encode("inputId"), ItemField.InputId),
        (JsonEncodedText.Encode("attempt"), ItemField.Attempt),
        (JsonEncodedText.Encode("function"), ItemField.Function),
        (JsonEncodedText.Encode("args"), ItemField.Args),
        (JsonEncodedText.Encode("argsBlob"), ItemField.ArgsBlob),
        (JsonEncodedText.Encode("success"), ItemField.Success),
        (JsonEncodedText.Encode("result"), ItemField.Result),
        (JsonEncodedText.Encode("resultBlob"), ItemField.ResultBlob),
        (JsonEncodedText.Encode("error"), ItemField.Error),
        (JsonEncodedText.Encode("cursor"), ItemField.Cursor),
    ];

    public ItemField Present;
    public int Index;
    public long InputId;
    public int Attempt;
    public string? Function;
    public JsonElement? Args;
    public string? ArgsBlob;
    public bool Success;
    public JsonElement? Result;
    public string? ResultBlob;
    public RemoteError? Error;
    public long Cursor;

    /// <summary>
    /// Reads an object of <paramref name="type"/>, which has the properties <paramref name="has"/> and requires
    /// <paramref name="required"/>.
    /// </summary>
    public static ItemFields Read(ref Utf8JsonReader reader, Type type, ItemField has, ItemField required)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException($"A {type.Name} must be a JSON object.");
        }
        var fields = default(ItemFields);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var field = FieldNamed(ref reader) & has;
            reader.Read();
            if (field == 0)
            {
                reader.Skip();
                continue;
            }
            try
            {
                fields.ReadValue(ref reader, field);
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException or JsonException)
            {
                // What the generated code would say, with the property named, so an answer can name the field.
                throw new JsonPropertyException(NameOf(field).ToString(), e is JsonException ? e.Message : $"The JSON value could not be converted to {ValueType(field)}.", e);
            }
            fields.Present |= field;
        }
        foreach (var (name, field) in Names)
        {
            if ((required & field) != 0 && (fields.Present & field) == 0)
            {
                throw new JsonException($"JSON deserialization for type '{type.FullName}' was missing required properties including: '{name}'.");
            }
        }
        return fields;
    }

    private static JsonEncodedText NameOf(ItemField field) => Names[System.Numerics.BitOperations.Log2((uint)field)].Name;

    private static string ValueType(ItemField field) => field switch
    {
        ItemField.Index or ItemField.Attempt => "System.Int32",
        ItemField.InputId or ItemField.Cursor => "System.Int64",
        ItemField.Success => "System.Boolean",
        ItemField.Error => nameof(RemoteError),
        _ => "System.String",
    };

    private static ItemField FieldNamed(ref Utf8JsonReader reader)
    {
        foreach (var (name, field) in Names)
        {
            if (reader.ValueTextEquals(name.EncodedUtf8Bytes))
            {
                return field;
            }
        }
        return 0;
    }

    private void ReadValue(ref Utf8JsonReader reader, ItemField field)
    {
        var isNull = reader.TokenType == JsonTokenType.Null;
        switch (field)
        {
            case ItemField.Index:
                Index = reader.GetInt32();
                break;
            case ItemField.InputId:
                InputId = reader.GetInt64();
                break;
            case ItemField.Attempt:
                Attempt = reader.GetInt32();
                break;
            case ItemField.Function:
                Function = reader.GetString() ?? throw new JsonException("The value cannot be null.");
                break;
            case ItemField.Args:
                Args = isNull ? null : JsonElement.ParseValue(ref reader);
                break;
            case ItemField.ArgsBlob:
                ArgsBlob = isNull ? null : reader.GetString();
                break;
            case ItemField.Success:
                Success = reader.GetBoolean();
                break;
            case ItemField.Result:
                Result = isNull ? null : JsonElement.ParseValue(ref reader);
                break;
            case ItemField.ResultBlob:
                ResultBlob = isNull ? null : reader.GetString();
                break;
            case ItemField.Error:
                Error = isNull ? null : JsonSerializer.Deserialize(ref reader, ProtocolJsonContext.Default.RemoteError);
                break;
            case ItemField.Cursor:
                Cursor = reader.GetInt64();
                break;
        }
    }

    /// <summary>Writes the properties <paramref name="has"/> in the records' declaration order, leaving out nulls.</summary>
    public readonly void Write(Utf8JsonWriter writer, ItemField has)
    {
        writer.WriteStartObject();
        foreach (var (name, field) in Names)
        {
            if ((has & field) == 0)
            {
                continue;
            }
            switch (field)
            {
                case ItemField.Index:
                    writer.WriteNumber(name, Index);
                    break;
                case ItemField.InputId:
                    writer.WriteNumber(name, InputId);
                    break;
                case ItemField.Attempt:
                    writer.WriteNumber(name, Attempt);
                    break;
                case ItemField.Function:
                    writer.WriteString(name, Function);
                    break;
                case ItemField.Args or ItemField.Result when (field == ItemField.Args ? Args : Result) is { } element:
                    writer.WritePropertyName(name);
                    element.WriteTo(writer);
                    break;
                case ItemField.ArgsBlob or ItemField.ResultBlob when (field == ItemField.ArgsBlob ? ArgsBlob : ResultBlob) is { } blob:
                    writer.WriteString(name, blob);
                    break;
                case ItemField.Success:
                    writer.WriteBoolean(name, Success);
                    break;
                case ItemField.Error when Error is not null:
                    writer.WritePropertyName(name);
                    JsonSerializer.Serialize(writer, Error, ProtocolJsonContext.Default.RemoteError);
                    break;
                case ItemField.Cursor:
                    writer.WriteNumber(name, Cursor);
                    break;
            }
        }
        writer.WriteEndObject();
    }
}

/// <summary>Reads and writes <see cref="InputItem"/> by hand (see the note at the top of this file).</summary>
internal sealed class InputItemConverter : JsonConverter<InputItem>
{
    private const ItemField Has = ItemField.Index | ItemField.Args | ItemField.ArgsBlob;

    public override InputItem Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var f = ItemFields.Read(ref reader, typeof(InputItem), Has, ItemField.Index);
        return new InputItem(f.Index, f.Args, f.ArgsBlob);
    }

    public override void Write(Utf8JsonWriter writer, InputItem value, JsonSerializerOptions options) =>
        new ItemFields { Index = value.Index, Args = value.Args, ArgsBlob = value.ArgsBlob }.Write(writer, Has);
}

/// <summary>Reads and writes <see cref="ContainerInput"/> by hand (see the note at the top of this file).</summary>
internal sealed class ContainerInputConverter : JsonConverter<ContainerInput>
{
    private const ItemField Required = ItemField.InputId | ItemField.Attempt | ItemField.Function;
    private const ItemField Has = Required | ItemField.Args | ItemField.ArgsBlob;

    public override ContainerInput Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var f = ItemFields.Read(ref reader, typeof(ContainerInput), Has, Required);
        return new ContainerInput(f.InputId, f.Attempt, f.Function!, f.Args, f.ArgsBlob);
    }

    public override void Write(Utf8JsonWriter writer, ContainerInput value, JsonSerializerOptions options) =>
        new ItemFields { InputId = value.InputId, Attempt = value.Attempt, Function = value.Function, Args = value.Args, ArgsBlob = value.ArgsBlob }.Write(writer, Has);
}

/// <summary>Reads and writes <see cref="ContainerOutput"/> by hand (see the note at the top of this file).</summary>
internal sealed class ContainerOutputConverter : JsonConverter<ContainerOutput>
{
    private const ItemField Required = ItemField.InputId | ItemField.Attempt | ItemField.Success;
    private const ItemField Has = Required | ItemField.Result | ItemField.ResultBlob | ItemField.Error;

    public override ContainerOutput Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var f = ItemFields.Read(ref reader, typeof(ContainerOutput), Has, Required);
        return new ContainerOutput(f.InputId, f.Attempt, f.Success, f.Result, f.ResultBlob, f.Error);
    }

    public override void Write(Utf8JsonWriter writer, ContainerOutput value, JsonSerializerOptions options) =>
        new ItemFields { InputId = value.InputId, Attempt = value.Attempt, Success = value.Success, Result = value.Result, ResultBlob = value.ResultBlob, Error = value.Error }
            .Write(writer, Has);
}

/// <summary>Reads and writes <see cref="OutputItem"/> by hand (see the note at the top of this file).</summary>
internal sealed class OutputItemConverter : JsonConverter<OutputItem>
{
    private const ItemField Required = ItemField.Index | ItemField.Success;
    private const ItemField Has = Required | ItemField.Result | ItemField.ResultBlob | ItemField.Error | ItemField.Cursor;

    public override OutputItem Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var f = ItemFields.Read(ref reader, typeof(OutputItem), Has, Required);
        return new OutputItem(f.Index, f.Success, f.Result, f.ResultBlob, f.Error, f.Cursor);
    }

    public override void Write(Utf8JsonWriter writer, OutputItem value, JsonSerializerOptions options) =>
        new ItemFields { Index = value.Index, Success = value.Success, Result = value.Result, ResultBlob = value.ResultBlob, Error = value.Error, Cursor = value.Cursor }
            .Write(writer, Has);
}
