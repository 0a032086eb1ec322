using Ferry.Protocol;

namespace Ferry.Server.Workers;

/// <summary>Sends messages to one connected peer (a worker or a container) without blocking the caller.</summary>
internal interface IPeer<in TMessage>
{
    /// <summary>Queues a message; false if the peer is gone.</summary>
    bool Send(TMessage message);

    void Close();
}

/// <summary>A connected worker and what is reserved on it.</summary>
internal sealed class WorkerState(string workerId, string name, string runtime, WorkerResources resources, IPeer<WorkerMessage> peer)
{
    public string WorkerId { get; } = workerId;

    public string Name { get; } = name;

    public string Runtime { get; } = runtime;

    public WorkerResources Resources { get; } = resources;

    public IPeer<WorkerMessage> Peer { get; } = peer;

    public double CpuReserved { get; set; }

    public long MemoryReserved { get; set; }

    public int Containers { get; set; }

    public HashSet<int> GpusInUse { get; } = [];
}

/// <summary>What a container holds on its worker while it runs.</summary>
internal sealed record Reservation(double Cpu, long MemoryMiB, IReadOnlyList<int> GpuIndices);

/// <summary>
/// Chooses a worker for a new container: the first that has room for its CPU, memory, container slot and GPUs, trying
/// a GPU fallback list in order, and preferring the least loaded worker.
/// </summary>
internal static class Placement
{
    public static (WorkerState Worker, Reservation Reservation)? TryPlace(IEnumerable<WorkerState> workers, FunctionSettings settings)
    {
        var candidates = workers.OrderBy(w => w.Containers).ToList();
        List<GpuRequest?> gpuOptions = settings.Gpu is { Count: > 0 } list ? [.. list.Select(GpuRequest.Parse)] : [null];
        foreach (var gpu in gpuOptions)
        {
            foreach (var worker in candidates)
            {
                var cpu = settings.Cpu ?? 0;
                var memory = settings.MemoryMiB ?? 0;
                if (worker.Containers >= worker.Resources.MaxContainers
                    || worker.CpuReserved + cpu > worker.Resources.Cpu + 1e-9
                    || worker.MemoryReserved + memory > worker.Resources.MemoryMiB)
                {
                    continue;
                }
                var indices = new List<int>();
                if (gpu is not null)
                {
                    indices = worker.Resources.Gpus
                        .Where(d => !worker.GpusInUse.Contains(d.Index) && gpu.Matches(d.Type))
                        .Select(d => d.Index).Take(gpu.Count).ToList();
                    if (indices.Count < gpu.Count)
                    {
                        continue;
                    }
                }
                return (worker, new Reservation(cpu, memory, indices));
            }
        }
        return null;
    }

    public static void Reserve(WorkerState worker, Reservation reservation)
    {
        worker.Containers++;
        worker.CpuReserved += reservation.Cpu;
        worker.MemoryReserved += reservation.MemoryMiB;
        worker.GpusInUse.UnionWith(reservation.GpuIndices);
    }

    public static void Release(WorkerState worker, Reservation reservation)
    {
        worker.Containers--;
        worker.CpuReserved -= reservation.Cpu;
        worker.MemoryReserved -= reservation.MemoryMiB;
        worker.GpusInUse.ExceptWith(reservation.GpuIndices);
    }
}

/// <summary>A GPU request such as <c>H100</c>, <c>a100:2</c> or <c>A100-80GB</c>.</summary>
internal sealed record GpuRequest(string Type, int Count)
{
    public static GpuRequest Parse(string text)
    {
        var parts = text.Split(':', 2, StringSplitOptions.TrimEntries);
        var count = parts.Length == 2 && int.TryParse(parts[1], out var n) ? n : 1;
        return new GpuRequest(parts[0].ToUpperInvariant(), count);
    }

    /// <summary><c>A100</c> accepts any A100; <c>A100-80GB</c> only that model; <c>ANY</c> any GPU.</summary>
    public bool Matches(string deviceType)
    {
        var device = deviceType.ToUpperInvariant();
        return Type == "ANY" || device == Type || device.StartsWith(Type + "-", StringComparison.Ordinal);
    }
}
