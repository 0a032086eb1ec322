using Ferry.Protocol;
using Ferry.Server.Workers;

namespace Ferry.Server.Scheduling;

/// <summary>
/// Where `ferry container exec` and `ferry shell` sessions run: an exec session in a running container, on its worker;
/// a shell in a container of its own with a function's image and resources, on a worker with room (runc preferred).
/// The scheduler calls it under its lock; the sessions' bytes never pass through it.
/// </summary>
internal static class SessionPlacement
{
    /// <summary>Tells a running container's worker to open a session that runs <paramref name="command"/> inside it.</summary>
    public static void OpenExec(ContainerState container, string sessionId, IReadOnlyList<string> command)
    {
        if (!container.Worker.Peer.Send(new OpenSessionCommand(sessionId, command, ContainerId: container.Id)))
        {
            throw new ConflictException($"The worker of {container.Id} is not connected.");
        }
    }

    /// <summary>
    /// Reserves room for a shell container with <paramref name="function"/>'s image, mounts, environment and resources
    /// (GPUs included) and tells the chosen worker to start it with <paramref name="command"/>. The caller releases the
    /// returned reservation when the session ends.
    /// </summary>
    public static (WorkerState Worker, Reservation Reservation) OpenShell(
        WorkerRegistry workers, AppState app, string function, string sessionId, IReadOnlyList<string> command)
    {
        var functions = app.Record.Definition?.Functions ?? [];
        var definition = functions.FirstOrDefault(f => string.Equals(f.Name, function, StringComparison.OrdinalIgnoreCase))
            ?? functions.FirstOrDefault(f => string.Equals(f.ClassName, function, StringComparison.OrdinalIgnoreCase))
            ?? throw new NotFoundException($"The app has no function '{function}'. Functions: {(functions.Count == 0 ? "none" : string.Join(", ", functions.Select(f => f.Name)))}.");
        if (workers.Count == 0)
        {
            throw new ConflictException("No worker is connected to run the shell.");
        }
        var (worker, reservation) = workers.TryReserveForShell(definition.Settings)
            ?? throw new ConflictException($"No worker has room for {definition.Name}'s resources right now{(definition.Settings.Gpu is { } gpu ? $" (GPU {string.Join(" or ", gpu)})" : "")}; try again when its containers are idle.");
        var id = Ids.New("sh");
        worker.Peer.Send(new OpenSessionCommand(sessionId, command, Container: new StartContainerCommand(
            id, "", app.AppId, app.Record.BuildId ?? "", definition.ClassName ?? definition.Name, "", definition.Settings, reservation.GpuIndices)));
        return (worker, reservation);
    }
}
