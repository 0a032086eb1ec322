using FluentAssertions;
using Ferry.Cli;
using Ferry.Protocol;
using Ferry.Server.Scheduling;
using Ferry.Server.Storage;
using Ferry.Server.Workers;
using Ferry.Worker;

namespace Ferry.Tests;

public sealed class PlacementTests
{
    private sealed class NullPeer : IPeer<WorkerMessage>
    {
        public bool Send(WorkerMessage message) => true;

        public void Close()
        {
        }
    }

    private static WorkerState Worker(params string[] gpus) => new(
        "w", "w", "process", new WorkerResources(4, 8192, [.. gpus.Select((g, i) => new GpuDevice(i, g))], 8), new NullPeer());

    [Fact]
    public void Two_gpus_host_two_one_gpu_containers_and_the_third_waits()
    {
        var worker = Worker("A10G", "A10G");
        var settings = new FunctionSettings { Gpu = ["A10G"] };

        var placed = new List<Reservation>();
        for (var i = 0; i < 3; i++)
        {
            if (Placement.TryPlace([worker], settings) is { } place)
            {
                Placement.Reserve(place.Worker, place.Reservation);
                placed.Add(place.Reservation);
            }
        }

        placed.Select(r => r.GpuIndices.Single()).Should().Equal(0, 1);
        Placement.Release(worker, placed[0]);
        Placement.TryPlace([worker], settings)!.Value.Reservation.GpuIndices.Should().Equal(0);
    }

    [Fact]
    public void A_fallback_list_is_tried_in_order()
    {
        var worker = Worker("L4", "A100-80GB", "A100-80GB");

        var place = Placement.TryPlace([worker], new FunctionSettings { Gpu = ["H100", "A100:2", "L4"] });

        place!.Value.Reservation.GpuIndices.Should().Equal(1, 2);
    }

    [Fact]
    public void Cpu_and_memory_reservations_are_respected()
    {
        var worker = Worker();
        var settings = new FunctionSettings { Cpu = 3, MemoryMiB = 1024 };
        Placement.Reserve(worker, Placement.TryPlace([worker], settings)!.Value.Reservation);

        Placement.TryPlace([worker], settings).Should().BeNull("only one core is left");
        Placement.TryPlace([worker], settings with { Cpu = 1 }).Should().NotBeNull();
    }
}

public sealed class GpuInventoryTests
{
    [Fact]
    public void A_configured_inventory_numbers_devices_from_zero()
    {
        GpuInventory.Parse("H100:2, A10G").Should().Equal(new GpuDevice(0, "H100"), new GpuDevice(1, "H100"), new GpuDevice(2, "A10G"));
    }

    [Fact]
    public void A_bad_inventory_entry_names_the_accepted_form()
    {
        var act = () => GpuInventory.Parse("H100:lots");

        act.Should().Throw<ArgumentException>().WithMessage("*TYPE:COUNT*");
    }

    [Fact]
    public void Nvidia_smi_output_is_read_by_model()
    {
        var csv = "0, NVIDIA H100 80GB HBM3, 81559\n1, NVIDIA A100-SXM4-80GB, 81920\n2, Tesla T4, 15360\n";

        GpuInventory.ParseSmi(csv).Should().Equal(new GpuDevice(0, "H100"), new GpuDevice(1, "A100-80GB"), new GpuDevice(2, "T4"));
    }
}

public sealed class RunTargetTests
{
    [Theory]
    [InlineData("app.cs", "app.cs", null)]
    [InlineData("app.cs::main", "app.cs", "main")]
    [InlineData("dir/app.csproj::square", "dir/app.csproj", "square")]
    [InlineData("app.cs::", "app.cs", null)]
    public void Path_and_name_are_split_at_the_last_double_colon(string text, string path, string? name) =>
        RunTarget.Parse(text).Should().Be(new RunTarget(path, name));
}

public sealed class SqliteStoreTests : IAsyncLifetime
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"ferry-store-{Guid.NewGuid():N}.db");
    private SqliteStore _store = null!;

    public async Task InitializeAsync()
    {
        _store = new SqliteStore(_path);
        await _store.InitializeAsync(CancellationToken.None);
    }

    private static CallRecord Call(string id) => new(id, "ap-1", "f", "f", CallKinds.Map, DateTimeOffset.UnixEpoch, false, null);

    [Fact]
    public async Task Inputs_are_deduplicated_by_index_and_outputs_reload_in_completion_order()
    {
        var first = await _store.AddInputsAsync(Call("c1"), [new NewInput(0, "[1]", null), new NewInput(1, "[2]", null)], CancellationToken.None);
        var second = await _store.AddInputsAsync(Call("c1"), [new NewInput(1, "[2]", null), new NewInput(2, "[3]", null)], CancellationToken.None);
        await _store.CompleteInputsAsync([new CompletionRecord(second[1], "c1", true, "9", null, null, DateTimeOffset.UnixEpoch)], CancellationToken.None);
        await _store.CompleteInputsAsync([new CompletionRecord(first[0], "c1", false, null, null, new RemoteError("E", "m"), DateTimeOffset.UnixEpoch)], CancellationToken.None);
        await _store.CompleteInputsAsync([new CompletionRecord(first[0], "c1", true, "1", null, null, DateTimeOffset.UnixEpoch)], CancellationToken.None);

        await _store.DisposeAsync();
        _store = new SqliteStore(_path);
        await _store.InitializeAsync(CancellationToken.None);
        var (outputs, indices) = await _store.LoadCallAsync("c1", CancellationToken.None);
        var pending = await _store.LoadPendingInputsAsync(CancellationToken.None);

        indices.Should().BeEquivalentTo([0, 1, 2]);
        first.Should().Equal(1L, 2L);
        second.Should().Equal(0L, 3L);
        outputs.Select(o => (o.Index, o.Cursor, o.Success)).Should().Equal((2, 1L, true), (0, 2L, false));
        pending.Select(p => p.Input.InputId).Should().Equal(2L);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        foreach (var file in Directory.GetFiles(Path.GetDirectoryName(_path)!, Path.GetFileName(_path) + "*"))
        {
            File.Delete(file);
        }
    }
}
