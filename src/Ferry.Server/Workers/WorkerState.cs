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

    /// <summary>
    /// Why no worker could ever take a container with these settings, even an idle one: no worker is connected, or none
    /// has that much CPU, memory or those GPUs. Null when some worker could, once it has room.
    /// </summary>
    public static string? WhyNot(IReadOnlyCollection<WorkerState> workers, FunctionSettings settings)
    {
        if (workers.Count == 0)
        {
            return "no worker is connected";
        }
        var cpu = settings.Cpu ?? 0;
        var memory = settings.MemoryMiB ?? 0;
        List<GpuRequest?> gpuOptions = settings.Gpu is { Count: > 0 } list ? [.. list.Select(GpuRequest.Parse)] : [null];
        var fits = workers.Any(w => cpu <= w.Resources.Cpu + 1e-9 && memory <= w.Resources.MemoryMiB
            && gpuOptions.Any(g => g is null || w.Resources.Gpus.Count(d => g.Matches(d.Type)) >= g.Count));
        if (fits)
        {
            return null;
        }
        var needs = new List<string>();
        if (settings.Cpu is { } cores)
        {
            needs.Add($"{cores:0.###} CPU cores");
        }
        if (settings.MemoryMiB is { } mib)
        {
            needs.Add($"{mib} MiB of memory");
        }
        if (settings.Gpu is { Count: > 0 } gpus)
        {
            needs.Add($"GPU {string.Join(" or ", gpus)}");
        }
        return $"no connected worker offers {string.Join(", ", needs)} (workers: {string.Join("; ", workers.Select(Describe))})";
    }

    private static string Describe(WorkerState worker) =>
        $"{worker.Name} {worker.Resources.Cpu:0.###} cores, {worker.Resources.MemoryMiB} MiB" +
        (worker.Resources.Gpus.Count > 0 ? ", " + string.Join(",", worker.Resources.Gpus.GroupBy(g => g.Type).Select(g => $"{g.Key}:{g.Count()}")) : ", no GPUs");

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
