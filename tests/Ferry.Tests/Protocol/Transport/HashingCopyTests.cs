using System.Security.Cryptography;
using FluentAssertions;
using Ferry.Protocol.Transport;

namespace Ferry.Tests.Transport;

public sealed class HashingCopyTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(HashingCopy.ChunkBytes)]
    [InlineData(HashingCopy.ChunkBytes * 5 / 2 + 3)]
    public async Task CopyAsync_AnySize_HashesAndWritesEveryByteToEveryTarget(int size)
    {
        var content = RandomNumberGenerator.GetBytes(size);
        using var first = new MemoryStream();
        using var second = new MemoryStream();

        var (hash, length) = await HashingCopy.CopyAsync(new MemoryStream(content), [first, second]);

        hash.Should().Be(Convert.ToHexStringLower(SHA256.HashData(content)));
        length.Should().Be(size);
        first.ToArray().Should().Equal(content);
        second.ToArray().Should().Equal(content);
    }

    [Fact]
    public async Task CopyAsync_SourceThatReadsInSmallPieces_IsReadToItsEnd()
    {
        var content = RandomNumberGenerator.GetBytes(HashingCopy.ChunkBytes + 12345);
        using var target = new MemoryStream();

        var (hash, length) = await HashingCopy.CopyAsync(new Trickle(content, 4093), [target]);

        hash.Should().Be(Convert.ToHexStringLower(SHA256.HashData(content)));
        length.Should().Be(content.Length);
        target.ToArray().Should().Equal(content);
    }

    [Fact]
    public async Task CopyAsync_NoTargets_OnlyHashes()
    {
        var content = RandomNumberGenerator.GetBytes(3 * HashingCopy.ChunkBytes);

        (await HashingCopy.CopyAsync(new MemoryStream(content), [])).Should().Be((Convert.ToHexStringLower(SHA256.HashData(content)), (long)content.Length));
    }

    /// <summary>A stream that returns at most <c>piece</c> bytes a read, as a network stream may.</summary>
    private sealed class Trickle(byte[] content, int piece) : MemoryStream(content)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(piece, buffer.Length)], cancellationToken);
    }
}
