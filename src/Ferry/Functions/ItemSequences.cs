using System.Text.Json;
using Ferry.Serialization;

namespace Ferry;

/// <summary>Recognises generator functions and reads their items as JSON, whatever their item type.</summary>
internal static class ItemSequences
{
    /// <summary>The item type of an <see cref="IAsyncEnumerable{T}"/> result type; null for any other type.</summary>
    public static Type? ItemType(Type resultType) =>
        resultType.IsGenericType && resultType.GetGenericTypeDefinition() == typeof(IAsyncEnumerable<>)
            ? resultType.GetGenericArguments()[0]
            : null;

    /// <summary>The sequence a generator returned, as JSON items serialized by their declared type.</summary>
    /// <exception cref="InvalidOperationException">The function returned null instead of a sequence.</exception>
    public static IAsyncEnumerable<JsonElement> AsElementsAsync(object? generator, Type resultType, string function)
    {
        var itemType = ItemType(resultType) ?? throw new ArgumentException($"{resultType} is not IAsyncEnumerable<T>.", nameof(resultType));
        if (generator is null)
        {
            throw new InvalidOperationException($"The generator '{function}' returned null instead of a sequence.");
        }
        return (IAsyncEnumerable<JsonElement>)Activator.CreateInstance(typeof(ElementSequence<>).MakeGenericType(itemType), generator)!;
    }

    private sealed class ElementSequence<T>(IAsyncEnumerable<T> items) : IAsyncEnumerable<JsonElement>
    {
        public async IAsyncEnumerator<JsonElement> GetAsyncEnumerator(CancellationToken cancellationToken = default)
        {
            await foreach (var item in items.WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                yield return Payload.ToElement(item);
            }
        }
    }
}
