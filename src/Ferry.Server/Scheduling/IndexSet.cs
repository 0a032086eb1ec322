namespace Ferry.Server.Scheduling;

/// <summary>
/// The input indices a call has accepted, as a bitmap in pages of 65,536 indices. A map numbers its inputs from 0
/// without gaps, so a million of them take 128 KiB here, where a <see cref="HashSet{T}"/> took about 20 MiB and grew
/// by copying itself on the large object heap while the inputs arrived. A page is allocated only once an index in its
/// range is added, so scattered indices cost at most a page each. Not thread-safe: the scheduler uses it under its lock.
/// </summary>
internal sealed class IndexSet
{
    private const int PageBits = 16;
    private const int WordsPerPage = (1 << PageBits) / 64;

    private readonly Dictionary<int, ulong[]> _pages = [];

    /// <summary>How many indices the set holds.</summary>
    public int Count { get; private set; }

    /// <summary>Whether the set holds <paramref name="index"/>.</summary>
    public bool Contains(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return _pages.TryGetValue(index >> PageBits, out var page) && (page[Word(index)] & Bit(index)) != 0;
    }

    /// <summary>Adds <paramref name="index"/>; false when the set held it already.</summary>
    public bool Add(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        if (!_pages.TryGetValue(index >> PageBits, out var page))
        {
            _pages[index >> PageBits] = page = new ulong[WordsPerPage];
        }
        ref var word = ref page[Word(index)];
        if ((word & Bit(index)) != 0)
        {
            return false;
        }
        word |= Bit(index);
        Count++;
        return true;
    }

    /// <summary>Removes <paramref name="index"/>; false when the set did not hold it. Emptied pages are kept.</summary>
    public bool Remove(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        if (!_pages.TryGetValue(index >> PageBits, out var page) || (page[Word(index)] & Bit(index)) == 0)
        {
            return false;
        }
        page[Word(index)] &= ~Bit(index);
        Count--;
        return true;
    }

    private static int Word(int index) => (index >> 6) & (WordsPerPage - 1);

    private static ulong Bit(int index) => 1UL << (index & 63);
}
