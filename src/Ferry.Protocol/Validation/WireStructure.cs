using System.Collections;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Ferry.Protocol.Validation;

/// <summary>
/// The checks every wire form gets, whatever its type: no null where the contract has no null (including list items,
/// which deserialization lets through), every string valid UTF-16 (also inside free JSON such as arguments and class
/// parameters), every floating-point number finite. It walks a value through its serialization metadata, so a field
/// added to a contract later is covered without a change here, and it names fields as they are named in JSON.
/// </summary>
internal static class WireStructure
{
    public static IEnumerable<string> Problems(object value, JsonTypeInfo typeInfo, string at) =>
        Walk(value, typeInfo, nullable: false, at);

    private static IEnumerable<string> Walk(object? value, JsonTypeInfo typeInfo, bool nullable, string at)
    {
        switch (value)
        {
            case null:
                if (!nullable)
                {
                    yield return WireValidator.Fail(at, "must not be null");
                }
                yield break;
            case string text:
                if (!WireRules.IsValidUtf16(text))
                {
                    yield return WireValidator.Fail(at, "is not valid UTF-16: it has a lone surrogate");
                }
                yield break;
            case double number:
                if (!double.IsFinite(number))
                {
                    yield return WireValidator.Fail(at, $"must be a finite number, not {number.ToString(CultureInfo.InvariantCulture)}");
                }
                yield break;
            case JsonElement element:
                if (WireRules.StringProblem(element, at) is { } problem)
                {
                    yield return problem;
                }
                yield break;
        }
        switch (typeInfo.Kind)
        {
            case JsonTypeInfoKind.Object:
                foreach (var property in typeInfo.Properties)
                {
                    if (property.Get is null)
                    {
                        continue;
                    }
                    var propertyInfo = typeInfo.Options.GetTypeInfo(property.PropertyType);
                    foreach (var problem in Walk(property.Get(value), propertyInfo, property.IsGetNullable, WireValidator.Join(at, property.Name)))
                    {
                        yield return problem;
                    }
                }
                break;
            case JsonTypeInfoKind.Enumerable when value is IEnumerable items && typeInfo.ElementType is { } elementType:
                var elementInfo = typeInfo.Options.GetTypeInfo(elementType);
                var index = 0;
                foreach (var item in items)
                {
                    foreach (var problem in Walk(item, elementInfo, nullable: false, $"{at}[{index}]"))
                    {
                        yield return problem;
                    }
                    index++;
                }
                break;
        }
    }
}
