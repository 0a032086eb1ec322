using System.Security.Cryptography;
using FluentAssertions;
using Ferry.Server.Storage;

namespace Ferry.Tests;

/// <summary>The blob store that holds volume contents checks every upload against the hash it is stored under.</summary>
public sealed class VolumeBlobStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-blobs").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task PutAsync_content_that_does_not_match_its_hash_is_refused_and_nothing_is_stored()
    {
        var store = new FileBlobStore(_dir);
        var hash = Convert.ToHexStringLower(SHA256.HashData("the real content"u8));

        using var wrong = new MemoryStream("other content"u8.ToArray());
        (await store.PutAsync(hash, wrong, CancellationToken.None)).Should().BeFalse();

        store.Exists(hash).Should().BeFalse();
        store.Length(hash).Should().BeNull();
        Directory.EnumerateFiles(_dir, "*", SearchOption.AllDirectories).Should().BeEmpty();
    }

    [Fact]
    public async Task PutAsync_content_that_matches_its_hash_is_stored_under_it()
    {
        var store = new FileBlobStore(_dir);
        var content = RandomNumberGenerator.GetBytes(3 << 20);
        var hash = Convert.ToHexStringLower(SHA256.HashData(content));

        using var body = new MemoryStream(content);
        (await store.PutAsync(hash, body, CancellationToken.None)).Should().BeTrue();

        store.Length(hash).Should().Be(content.Length);
        await using var read = store.OpenRead(hash)!;
        (await SHA256.HashDataAsync(read)).Should().Equal(SHA256.HashData(content));
        Directory.EnumerateFiles(_dir, "*.tmp", SearchOption.AllDirectories).Should().BeEmpty();
    }
}
