using FluentAssertions;
using Ferry.Server.Storage;

namespace Ferry.Tests.Storage;

/// <summary>IVolumeStore: volumes' versioned manifests, on every store.</summary>
public abstract partial class StoreContractTests
{
    private IVolumeStore Volumes => Store;

    private static readonly string HashA = new('a', 64);
    private static readonly string HashB = new('b', 64);
    private static readonly string HashC = new('c', 64);

    private async Task<IReadOnlyList<VolumeFileRecord>> FilesAsync(string volume, string under = "") =>
        (await Volumes.GetVolumeFilesAsync(volume, under, default))!.Value.Files;

    [StoreFact]
    public async Task Volumes_CreateListDelete_CountFilesAndBytes_AndSurviveReopen()
    {
        (await Volumes.CreateVolumeAsync("models", T0, default)).Should().BeTrue();
        (await Volumes.CreateVolumeAsync("models", T0.AddDays(1), default)).Should().BeFalse();
        (await Volumes.CreateVolumeAsync("empty", T0, default)).Should().BeTrue();
        (await Volumes.CommitVolumeAsync("models", [new("w.bin", HashA, 100, 420), new("x/y.txt", HashB, 5, 493)], [], 10, T0.AddHours(1), default))
            .Should().Be((VolumeCommitOutcome.Committed, 1L));
        await ReopenAsync();

        (await Volumes.ListVolumesAsync(default)).Should().Equal(
            new VolumeRecord("empty", 0, 0, 0, T0, T0),
            new VolumeRecord("models", 1, 2, 105, T0, T0.AddHours(1)));
        (await FilesAsync("models")).Should().Equal(new VolumeFileRecord("w.bin", HashA, 100, 420), new VolumeFileRecord("x/y.txt", HashB, 5, 493));
        (await Volumes.DeleteVolumeAsync("models", default)).Should().BeTrue();
        (await Volumes.DeleteVolumeAsync("models", default)).Should().BeFalse();
        (await Volumes.GetVolumeAsync("models", default)).Should().BeNull();
        (await Volumes.GetVolumeFilesAsync("models", "", default)).Should().BeNull();
        (await Volumes.CreateVolumeAsync("models", T0, default)).Should().BeTrue();
        (await FilesAsync("models")).Should().BeEmpty("a volume made again under a deleted one's name starts empty");
    }

    [StoreFact]
    public async Task CommitVolume_LastWriteWinsPerFile_AndRemovalsAreManifestChanges()
    {
        await Volumes.CreateVolumeAsync("v", T0, default);
        await Volumes.CommitVolumeAsync("v", [new("a.txt", HashA, 1, 420), new("b.txt", HashA, 1, 420)], [], 10, T0, default);
        // Two containers that loaded version 1 commit in turn: each path holds the later write, and untouched paths stay.
        await Volumes.CommitVolumeAsync("v", [new("a.txt", HashB, 2, 420)], [], 10, T0, default);
        var (_, version) = await Volumes.CommitVolumeAsync("v", [new("a.txt", HashC, 3, 384), new("c.txt", HashC, 3, 420)], ["b.txt"], 10, T0, default);

        version.Should().Be(3);
        (await FilesAsync("v")).Should().Equal(new VolumeFileRecord("a.txt", HashC, 3, 384), new VolumeFileRecord("c.txt", HashC, 3, 420));
        (await Volumes.CommitVolumeAsync("v", [], ["no-such-file"], 10, T0, default)).Should().Be((VolumeCommitOutcome.Committed, 4L));
        (await Volumes.CommitVolumeAsync("nope", [new("a", HashA, 1, 420)], [], 10, T0, default)).Outcome.Should().Be(VolumeCommitOutcome.NoVolume);
    }

    [StoreFact]
    public async Task CommitVolume_AFileReplacesTheTreeAboveOrBelowItsPath()
    {
        await Volumes.CreateVolumeAsync("t", T0, default);
        await Volumes.CommitVolumeAsync("t", [new("d/x", HashA, 1, 420), new("d/y/z", HashA, 1, 420), new("d0", HashA, 1, 420), new("d.txt", HashA, 1, 420), new("e", HashB, 1, 420)], [], 10, T0, default);

        await Volumes.CommitVolumeAsync("t", [new("d", HashB, 2, 420), new("e/f", HashC, 3, 420)], [], 10, T0, default);

        (await FilesAsync("t")).Select(f => f.Path).Should().Equal("d", "d.txt", "d0", "e/f");
    }

    [StoreFact]
    public async Task CommitVolume_OverTheFileLimit_ChangesNothing()
    {
        await Volumes.CreateVolumeAsync("full", T0, default);
        await Volumes.CommitVolumeAsync("full", [new("1", HashA, 1, 420), new("2", HashA, 1, 420)], [], 3, T0, default);

        var refused = await Volumes.CommitVolumeAsync("full", [new("3", HashA, 1, 420), new("4", HashA, 1, 420), new("1", HashB, 9, 420)], [], 3, T0.AddHours(1), default);
        var replaced = await Volumes.CommitVolumeAsync("full", [new("3", HashA, 1, 420), new("4", HashA, 1, 420)], ["1"], 3, T0.AddHours(2), default);

        refused.Should().Be((VolumeCommitOutcome.TooManyFiles, 1L));
        replaced.Should().Be((VolumeCommitOutcome.Committed, 2L));
        (await FilesAsync("full")).Select(f => (f.Path, f.Hash)).Should().Equal(("2", HashA), ("3", HashA), ("4", HashA));
        (await Volumes.GetVolumeAsync("full", default))!.UpdatedAt.Should().Be(T0.AddHours(2));
    }

    [StoreFact]
    public async Task GetVolumeFiles_Under_FindsAPathAndWhatIsBelowIt_NotItsSiblings()
    {
        await Volumes.CreateVolumeAsync("u", T0, default);
        await Volumes.CommitVolumeAsync("u", [new("a/b", HashA, 1, 420), new("a/c/d", HashA, 1, 420), new("a.txt", HashA, 1, 420), new("ab", HashA, 1, 420), new("a0", HashA, 1, 420)], [], 10, T0, default);

        (await FilesAsync("u", "a")).Select(f => f.Path).Should().Equal("a/b", "a/c/d");
        (await FilesAsync("u", "a/c/d")).Select(f => f.Path).Should().Equal("a/c/d");
        (await FilesAsync("u", "zz")).Should().BeEmpty();
        (await Volumes.GetVolumeFilesAsync("u", "zz", default))!.Value.Version.Should().Be(1);
    }
}
