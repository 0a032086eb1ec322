namespace Ferry.Server.Scheduling;

/// <summary>
/// The input indices a call has accepted, as a bitmap in pages of 65,536 indices. A map numbers its inputs from 0
/// without gaps, so a million of them take 128 KiB here, where a <see cref="HashSet{T}"/> took about 20 MiB and grew
/// by copying itself on the large object heap while the inputs arrived. A page grows by doubling up to the highest
/// index added to it, so a call of one input costs one word; the first page is a field, so a call of fewer than 65,536
/// inputs needs no dictionary. Not thread-safe: the scheduler uses it under its lock.
/// </summary>
internal sealed class IndexSet
{
    private const int PageBits = 16;
    private const int WordsPerPage = (1 << PageBits) / 64;

    private ulong[] _first = [];
    private Dictionary<int, ulong[]>? _others;

    /// <summary>How many indices the set holds.</summary>
    public int Count { get; private set; }

    /// <summary>Whether the set holds <paramref name="index"/>.</summary>
    public bool Contains(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        var page = Page(index);
        var word = Word(index);
        return word < page.Length && (page[word] & Bit(index)) != 0;
    }

    /// <summary>Adds <paramref name="index"/>; false when the set held it already.</summary>
    public bool Add(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        var page = Page(index);
        var word = Word(index);
        if (word >= page.Length)
        {
            var grown = new ulong[Math.Min(WordsPerPage, Math.Max(word + 1, page.Length * 2))];
            page.CopyTo(grown, 0);
            page = grown;
            if (index >> PageBits == 0)
            {
                _first = page;
            }
            else
            {
                (_others ??= [])[index >> PageBits] = page;
            }
        }
        if ((page[word] & Bit(index)) != 0)
        {
            return false;
        }
        page[word] |= Bit(index);
        Count++;
        return true;
    }

    /// <summary>Removes <paramref name="index"/>; false when the set did not hold it. Pages keep their size.</summary>
    public bool Remove(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        var page = Page(index);
        var word = Word(index);
        if (word >= page.Length || (page[word] & Bit(index)) == 0)
        {
            return false;
        }
        page[word] &= ~Bit(index);
        Count--;
        return true;
    }

    /// <summary>The page that holds <paramref name="index"/>, empty when none has been made.</summary>
    private ulong[] Page(int index) =>
        index >> PageBits == 0 ? _first
        : _others is not null && _others.TryGetValue(index >> PageBits, out var page) ? page
        : [];

    private static int Word(int index) => (index >> 6) & (WordsPerPage - 1);

    private static ulong Bit(int index) => 1UL << (index & 63);
}
