namespace Ferry.Server.Storage;

/// <summary>
/// The durable state of the control plane: every aggregate's interface, and the store's lifecycle. A store is one
/// object that implements them all; the server registers it under each interface, and each component depends on the
/// narrowest one it needs.
/// </summary>
/// <remarks>
/// What holds across all of them: a write returns once it is committed; writes commit in the order they were issued,
/// whichever interface issued them, and a write is acknowledged only once every write issued before it is committed;
/// implementations batch concurrent writes into one transaction (group commit), so a caller's acknowledgement never
/// waits on a private fsync, and a write that fails fails alone while the others of its group commit; a read sees every
/// write acknowledged before it started. Times are kept to the millisecond. These hold for one store object, that is
/// one server; where several servers share a PostgreSQL database, the store numbers inputs and outputs itself
/// (<see cref="ICallStore"/>) and leases decide which server dispatches which app (<see cref="ILeaseStore"/>).
/// </remarks>
internal interface IStore : IAppStore, ICallStore, ILogStore, IImageStore, ITokenStore, IRetentionStore, IObjectStore, IVolumeStore, IDeploymentStore, ILeaseStore, IAsyncDisposable
{
    /// <summary>Opens the store, creating its schema if missing and upgrading it if older; call it once, before anything else.</summary>
    /// <exception cref="StoreUnavailableException">The database cannot be reached or has a newer schema.</exception>
    Task InitializeAsync(CancellationToken cancellationToken);
}
