namespace Ferry;

/// <summary>A stored value could not be read as the type asked for. The message names the object and the key.</summary>
public sealed class DeserializationException(string message, Exception? innerException = null) : FerryException(message, innerException);

/// <summary>A queue get found no item before its timeout (Modal's <c>queue.Empty</c>).</summary>
public sealed class QueueEmptyException(string message) : FerryException(message);

/// <summary>A queue put found no room before its timeout (Modal's <c>queue.Full</c>).</summary>
public sealed class QueueFullException(string message) : FerryException(message);
