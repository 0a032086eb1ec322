using System.Text.Json;

namespace Ferry.Protocol;

/// <summary>
/// A property of a wire record whose value could not be read. <see cref="JsonException.Path"/> is the object's place in
/// the document; <see cref="Property"/> names the property within it, so that an error can name the whole field.
/// </summary>
/// <param name="property">The property's name as it appears in the JSON.</param>
/// <param name="message">What is wrong with its value.</param>
/// <param name="innerException">What the reader threw, if anything.</param>
public sealed class JsonPropertyException(string property, string message, Exception? innerException = null)
    : JsonException(message, innerException)
{
    /// <summary>The property's name as it appears in the JSON.</summary>
    public string Property { get; } = property;
}
