using System.Text.Json;
using FluentAssertions;
using Ferry.Protocol;

namespace Ferry.Tests;

/// <summary>The per-input records, read and written by hand: the same JSON as the generated code, and the same errors.</summary>
public sealed class ItemConvertersTests
{
    private static readonly ProtocolJsonContext Json = ProtocolJsonContext.Default;

    private static JsonElement Parse(string json) => JsonDocument.Parse(json).RootElement.Clone();

    [Fact]
    public void Every_item_is_written_in_camel_case_in_declaration_order_without_its_nulls()
    {
        var error = new RemoteError("ValueError", "bad", "trace");

        JsonSerializer.Serialize(new InputItem(3, Parse("[1,\"a\"]")), Json.InputItem).Should().Be("""{"index":3,"args":[1,"a"]}""");
        JsonSerializer.Serialize(new InputItem(4, ArgsBlob: "sha256:ab"), Json.InputItem).Should().Be("""{"index":4,"argsBlob":"sha256:ab"}""");
        JsonSerializer.Serialize(new ContainerInput(9, 1, "square", Parse("[2]")), Json.ContainerInput).Should().Be("""{"inputId":9,"attempt":1,"function":"square","args":[2]}""");
        JsonSerializer.Serialize(new ContainerOutput(9, 0, true, Parse("4")), Json.ContainerOutput).Should().Be("""{"inputId":9,"attempt":0,"success":true,"result":4}""");
        JsonSerializer.Serialize(new OutputItem(2, false, Error: error, Cursor: 7), Json.OutputItem)
            .Should().Be($$"""{"index":2,"success":false,"error":{{JsonSerializer.Serialize(error, Json.RemoteError)}},"cursor":7}""");
    }

    [Fact]
    public void Every_item_reads_back_what_was_written()
    {
        var error = new RemoteError("ValueError", "bad", "trace");
        var items = new object[]
        {
            new InputItem(3, Parse("""{"x":[1,2]}""")),
            new InputItem(4, ArgsBlob: "sha256:ab"),
            new ContainerInput(9, 1, "square", Parse("[2]"), null),
            new ContainerOutput(9, 2, false, null, "sha256:cd", error),
            new OutputItem(2, true, Parse("\"é\""), null, null, 7),
        };

        foreach (var item in items)
        {
            var info = Json.GetTypeInfo(item.GetType())!;
            var back = JsonSerializer.Deserialize(JsonSerializer.Serialize(item, info), info);

            // Elements compare by reference, so the records are compared through their JSON.
            JsonSerializer.Serialize(back, info).Should().Be(JsonSerializer.Serialize(item, info));
        }
    }

    [Fact]
    public void Unknown_properties_are_skipped_whatever_their_values()
    {
        var item = JsonSerializer.Deserialize("""{"extra":{"a":[1,{"b":null}]},"index":5,"more":"x","success":true,"result":25,"cursor":3}""", Json.OutputItem)!;

        (item.Index, item.Success, item.Result!.Value.GetInt32(), item.Cursor).Should().Be((5, true, 25, 3L));
    }

    [Fact]
    public void A_null_result_or_argument_is_none()
    {
        JsonSerializer.Deserialize("""{"index":1,"success":true,"result":null}""", Json.OutputItem)!.Result.Should().BeNull();
        JsonSerializer.Deserialize("""{"index":1,"args":null,"argsBlob":null}""", Json.InputItem)!.Args.Should().BeNull();
    }

    [Theory]
    [InlineData("""{"args":[1]}""", typeof(InputItem), "index")]
    [InlineData("""{"inputId":1,"function":"f"}""", typeof(ContainerInput), "attempt")]
    [InlineData("""{"inputId":1,"attempt":0}""", typeof(ContainerInput), "function")]
    [InlineData("""{"inputId":1,"attempt":0,"result":1}""", typeof(ContainerOutput), "success")]
    [InlineData("""{"success":true}""", typeof(OutputItem), "index")]
    public void A_missing_required_property_is_named(string json, Type type, string name)
    {
        var read = () => JsonSerializer.Deserialize(json, Json.GetTypeInfo(type)!);

        read.Should().Throw<JsonException>().WithMessage($"*missing required properties*'{name}'*");
    }

    [Theory]
    [InlineData("""{"index":null}""", typeof(InputItem), "index")]
    [InlineData("""{"index":"1"}""", typeof(InputItem), "index")]
    [InlineData("""{"index":1e40}""", typeof(InputItem), "index")]
    [InlineData("""{"inputId":1,"attempt":0,"function":null}""", typeof(ContainerInput), "function")]
    [InlineData("""{"inputId":1,"attempt":0,"success":"yes"}""", typeof(ContainerOutput), "success")]
    [InlineData("""{"index":1,"success":false,"error":{"type":1}}""", typeof(OutputItem), "error")]
    public void A_value_of_the_wrong_kind_is_an_error_naming_the_property(string json, Type type, string property)
    {
        var read = () => JsonSerializer.Deserialize(json, Json.GetTypeInfo(type)!);

        read.Should().Throw<JsonPropertyException>().Which.Property.Should().Be(property);
    }

    [Fact]
    public void A_value_of_the_wrong_kind_in_a_list_has_the_items_path_and_the_propertys_name()
    {
        var read = () => JsonSerializer.Deserialize("""{"inputs":[{"index":0},{"index":"one"}]}""", Json.AddInputsRequest);

        var error = read.Should().Throw<JsonPropertyException>().Which;
        (error.Path, error.Property, error.Message).Should().Be(("$.inputs[1]", "index", "The JSON value could not be converted to System.Int32."));
    }

    [Fact]
    public void Something_other_than_an_object_is_a_json_error()
    {
        var read = () => JsonSerializer.Deserialize("[1,2]", Json.OutputItem);

        read.Should().Throw<JsonException>().WithMessage("*OutputItem must be a JSON object*");
    }
}
