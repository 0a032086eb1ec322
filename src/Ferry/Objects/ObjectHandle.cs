using System.Text.Json;
using Ferry.Client;
using Ferry.Hosting;
using Ferry.Protocol;
using Ferry.Serialization;

namespace Ferry;

/// <summary>What a <see cref="Dict"/> and a <see cref="Queue"/> share: a name, a server, and creation on first use.</summary>
public abstract class ObjectHandle
{
    private readonly FerryConnection? _connection;
    private readonly bool _createIfMissing;
    private Task? _created;

    private protected ObjectHandle(string name, bool createIfMissing, FerryConnection? connection, string kind)
    {
        if (!ObjectLimits.IsName(name))
        {
            throw new ArgumentException($"'{name}' is not a {kind} name: use 1 to {ObjectLimits.MaxNameLength} letters, digits, '-', '_' or '.'.", nameof(name));
        }
        Name = name;
        _createIfMissing = createIfMissing;
        _connection = connection;
    }

    /// <summary>The object's name, shared by every app and container of the server.</summary>
    public string Name { get; }

    /// <summary>Whether the handle was asked for with <c>createIfMissing</c>.</summary>
    internal bool CreatesIfMissing => _createIfMissing;

    private protected FerryClient Client => _connection?.Client ?? FerryContext.Client;

    private protected abstract string CreateRoute { get; }

    /// <summary>Creates the object on first use when it was asked for with <c>createIfMissing</c>; else the server's 404 names it.</summary>
    private protected Task EnsureAsync(CancellationToken cancellationToken)
    {
        if (!_createIfMissing)
        {
            return Task.CompletedTask;
        }
        var created = Volatile.Read(ref _created);
        if (created is { IsFaulted: false, IsCanceled: false })
        {
            return created;
        }
        var next = Client.SendAsync(HttpMethod.Post, CreateRoute, new CreateObjectRequest(Name), ProtocolJsonContext.Default.CreateObjectRequest,
            ProtocolJsonContext.Default.ObjectSummary, cancellationToken);
        Volatile.Write(ref _created, next);
        return next;
    }

    private protected static JsonElement Json<T>(T value) => Payload.ToElement(value, value?.GetType() ?? typeof(T));

    private protected T Read<T>(JsonElement element, string what)
    {
        try
        {
            return Payload.Read<T>(element);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
        {
            throw new DeserializationException($"{what} cannot be read as {Payload.TypeName(typeof(T))}: {e.Message.Split(" Path:", 2)[0]}", e);
        }
    }
}
