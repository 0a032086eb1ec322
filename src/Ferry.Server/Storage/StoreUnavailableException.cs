namespace Ferry.Server.Storage;

/// <summary>
/// The store named by <see cref="ServerOptions.Store"/> cannot be used: the location is malformed, the database cannot
/// be reached, or its schema is newer than this server's. The message names the store without its credentials.
/// </summary>
internal sealed class StoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
