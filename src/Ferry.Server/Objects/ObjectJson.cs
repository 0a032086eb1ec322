using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Ferry.Server.Objects;

/// <summary>Keys and values travel as JSON and are stored as compact JSON text, so equal keys are equal strings.</summary>
internal static class ObjectJson
{
    public static string Compact(JsonElement element)
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            element.WriteTo(writer);
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static JsonElement Parse(string text)
    {
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    /// <summary>A key as people read it in messages: short, on one line.</summary>
    public static string Show(string key) => key.Length <= 80 ? key : key[..77] + "...";

    public static string Size(int bytes) => bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0 ? $"{bytes / (1024 * 1024)} MiB"
        : bytes >= 1024 && bytes % 1024 == 0 ? $"{bytes / 1024} KiB" : $"{bytes} bytes";
}

/// <summary>
/// A wake-up that many waiters share: a waiter takes <see cref="Next"/> before it looks at the store, so a change made
/// after its look always completes the task it holds.
/// </summary>
internal sealed class Wakeup
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Next => Volatile.Read(ref _next).Task;

    public void Pulse() => Interlocked.Exchange(ref _next, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
}
