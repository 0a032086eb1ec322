using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;

namespace Ferry.Worker.Runtimes.Runc;

/// <summary>Where one container is attached: its network namespace, the host's end of its veth pair and its address.</summary>
/// <param name="Namespace">The name of the network namespace under <c>/run/netns</c>.</param>
/// <param name="HostInterface">The host's end of the container's veth pair, a port of the worker's bridge.</param>
/// <param name="Address">The container's IPv4 address.</param>
/// <param name="ResolvConf">The file bound over the container's <c>/etc/resolv.conf</c>.</param>
public sealed record NetworkAttachment(string Namespace, string HostInterface, IPAddress Address, string ResolvConf)
{
    /// <summary>The namespace's path, as the OCI config names it.</summary>
    public string NamespacePath => "/run/netns/" + Namespace;
}

/// <summary>
/// The network of one worker's containers. The worker takes a free slot <c>S</c> (0 to 255) under an exclusive lock
/// on <c>/run/ferry/net/slot-SS.lock</c>, held while it lives, so workers on one host never share names or addresses.
/// The slot owns the bridge <c>fySSbr</c> with the gateway 10.213.S.1/24, the nftables table <c>inet ferry_SS</c>,
/// and, per container, a network namespace <c>fySS-ID</c> and a veth pair whose host end <c>fySSvNNN</c> is an
/// isolated port of the bridge and whose other end is the container's <c>eth0</c> with 10.213.S.NNN.
/// </summary>
/// <remarks>
/// The table masquerades the containers' traffic to the outside; lets them reach the host only on the ports of the
/// worker's relays to the control plane and on the host's own network addresses, as any machine on its network can;
/// and keeps them from each other (the bridge's ports are isolated, and forwarding between any two Ferry interfaces
/// is refused), from IPv6, and from connections anyone else opens to them. What a container may not reach is
/// rejected as administratively prohibited ("no route to host") rather than dropped, so it fails at once. A worker that takes a slot first removes
/// whatever a killed owner of the slot left (interfaces, namespaces and the table), and the leftovers of any other
/// slot whose lock nobody holds.
/// </remarks>
public sealed partial class ContainerNetwork : IAsyncDisposable
{
    /// <summary>Every interface and namespace Ferry makes starts with it.</summary>
    internal const string Prefix = "fy";
    private const string LockDir = "/run/ferry/net";
    private const string NetnsDir = "/run/netns";
    private const int FirstHost = 2;
    private const int LastHost = 254;

    private readonly string _dataDir;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ConcurrentDictionary<Uri, Lazy<Task<ServerRelay>>> _relays = new();
    private readonly bool[] _used = new bool[LastHost + 1];
    private int _next = FirstHost;
    private Slot? _slot;

    /// <summary>A network for the containers of the worker whose data lives in <paramref name="dataDir"/>.</summary>
    /// <param name="dataDir">The worker's data dir: the slot it prefers is derived from it, so a restarted worker usually takes its old slot back.</param>
    /// <param name="logger">Where setup, leftovers and relay failures are logged.</param>
    /// <param name="isolated">False only for the benchmark's comparison: containers then share the host's network.</param>
    public ContainerNetwork(string dataDir, ILogger? logger = null, bool isolated = true)
    {
        _dataDir = Path.GetFullPath(dataDir);
        _logger = logger ?? NullLogger.Instance;
        Isolated = isolated;
    }

    /// <summary>False when containers share the host's network namespace.</summary>
    public bool Isolated { get; }

    /// <summary>The container network, 10.213.0.0/16; each worker's slot is one /24 of it.</summary>
    internal static (IPAddress Address, int Bits) Range => (new IPAddress([10, 213, 0, 0]), 16);

    private sealed record Slot(int Number, SafeFileHandle Lock, string ResolvConf)
    {
        public string Hex => Number.ToString("x2", CultureInfo.InvariantCulture);

        public string Bridge => $"{Prefix}{Hex}br";

        public string Table => $"ferry_{Hex}";

        public IPAddress Gateway => Host(1);

        public IPAddress Host(int index) => new([10, 213, (byte)Number, (byte)index]);
    }

    /// <summary>
    /// Creates a network namespace for <paramref name="containerId"/> attached to the worker's bridge, or returns
    /// null when containers share the host's network.
    /// </summary>
    /// <exception cref="InvalidOperationException">The namespace or its interfaces could not be set up.</exception>
    /// <exception cref="ArgumentException"><paramref name="containerId"/> has characters other than letters, digits, '-', '_' and '.'.</exception>
    public async Task<NetworkAttachment?> AttachAsync(string containerId, CancellationToken cancellationToken)
    {
        if (!Isolated)
        {
            return null;
        }
        if (containerId.Length == 0 || !containerId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            // The id becomes part of a file name and of ip's batch lines.
            throw new ArgumentException($"'{containerId}' is not a container id.", nameof(containerId));
        }
        var slot = await EnsureAsync(cancellationToken).ConfigureAwait(false);
        var index = Allocate();
        var attachment = new NetworkAttachment(
            $"{Prefix}{slot.Hex}-{containerId}",
            HostInterface(index),
            slot.Host(index),
            slot.ResolvConf);
        try
        {
            await IpAsync(null, false, cancellationToken,
                $"netns add {attachment.Namespace}",
                $"link add {attachment.HostInterface} type veth peer name eth0 netns {attachment.Namespace}",
                $"link set {attachment.HostInterface} master {slot.Bridge}",
                $"link set dev {attachment.HostInterface} type bridge_slave isolated on",
                $"link set {attachment.HostInterface} up").ConfigureAwait(false);
            await IpAsync(attachment.Namespace, false, cancellationToken,
                "link set lo up",
                $"addr add {attachment.Address}/24 dev eth0",
                "link set eth0 up",
                $"route add default via {slot.Gateway}").ConfigureAwait(false);
        }
        catch
        {
            Detach(attachment);
            throw;
        }
        return attachment;
    }

    /// <summary>Closes what the container had open through the relays, removes its namespace and veth pair, and frees its address.</summary>
    public void Detach(NetworkAttachment? attachment)
    {
        if (attachment is null)
        {
            return;
        }
        foreach (var relay in _relays.Values.Where(r => r.IsValueCreated && r.Value.IsCompletedSuccessfully))
        {
#pragma warning disable VSTHRD002 // Only relays whose start has completed are read, so nothing waits.
            relay.Value.Result.CloseFrom(attachment.Address);
#pragma warning restore VSTHRD002
        }
        // Only the namespace: the kernel destroys it, and the veth pair in it, in the background, where deleting the
        // veth here would wait about 25 ms for an RCU grace period. Allocate skips an index whose veth is still there.
        DeleteNamespace(attachment.Namespace);
        lock (_used)
        {
            _used[attachment.Address.GetAddressBytes()[3]] = false;
        }
    }

    /// <summary>
    /// The URL a container uses to reach the control plane at <paramref name="serverUrl"/>: a relay on the gateway,
    /// started on first use; <paramref name="serverUrl"/> itself when containers share the host's network.
    /// </summary>
    public async Task<Uri> ServerUrlAsync(Uri serverUrl, CancellationToken cancellationToken)
    {
        if (!Isolated)
        {
            return serverUrl;
        }
        var slot = await EnsureAsync(cancellationToken).ConfigureAwait(false);
        var lazy = _relays.GetOrAdd(serverUrl, url => new Lazy<Task<ServerRelay>>(() => StartRelayAsync(slot, url)));
        ServerRelay relay;
        try
        {
            relay = await lazy.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The next container tries again rather than inheriting the failure.
            _relays.TryRemove(new KeyValuePair<Uri, Lazy<Task<ServerRelay>>>(serverUrl, lazy));
            throw;
        }
        return new UriBuilder(serverUrl) { Scheme = Uri.UriSchemeHttp, Host = slot.Gateway.ToString(), Port = relay.Port }.Uri;
    }

    private async Task<ServerRelay> StartRelayAsync(Slot slot, Uri upstream)
    {
        var relay = new ServerRelay(slot.Gateway, upstream, _logger);
        try
        {
            await NftAsync($"add element inet {slot.Table} relay_ports {{ {relay.Port} }}\n", CancellationToken.None).ConfigureAwait(false);
        }
        catch
        {
            await relay.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        LogRelay(_logger, upstream, slot.Gateway, relay.Port);
        return relay;
    }

    /// <summary>Removes the network namespaces, in any slot, of containers a killed worker left behind.</summary>
    public static void RemoveNamespacesOf(IReadOnlyCollection<string> containerIds)
    {
        if (containerIds.Count == 0 || !Directory.Exists(NetnsDir))
        {
            return;
        }
        foreach (var name in Directory.EnumerateFileSystemEntries(NetnsDir).Select(p => Path.GetFileName(p)!)
            .Where(n => n.StartsWith(Prefix, StringComparison.Ordinal) && n.Length > 5 && n[4] == '-' && containerIds.Contains(n[5..])))
        {
            DeleteNamespace(name);
        }
    }

    /// <summary>What <c>ip netns del</c> does, without starting it: detach the namespace's bind mount and remove the file.</summary>
    private static void DeleteNamespace(string name)
    {
        var path = Path.Combine(NetnsDir, name);
        _ = Umount2(path, MountDetach);
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
    }

    private string HostInterface(int index) => $"{Prefix}{_slot!.Hex}v{index.ToString("000", CultureInfo.InvariantCulture)}";

    private int Allocate()
    {
        lock (_used)
        {
            // Round robin, so an address is not handed out again the moment it is freed.
            for (var i = 0; i <= LastHost - FirstHost; i++)
            {
                var index = FirstHost + ((_next - FirstHost + i) % (LastHost - FirstHost + 1));
                if (!_used[index] && !Directory.Exists($"/sys/class/net/{HostInterface(index)}"))
                {
                    _used[index] = true;
                    _next = index + 1;
                    return index;
                }
            }
        }
        throw new InvalidOperationException($"This worker already runs {LastHost - FirstHost + 1} containers and builds, all its network has room for.");
    }

    private async Task<Slot> EnsureAsync(CancellationToken cancellationToken)
    {
        if (_slot is { } ready)
        {
            return ready;
        }
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_slot is { } raced)
            {
                return raced;
            }
            EnableForwarding();
            var (number, handle) = TakeSlot();
            var slot = new Slot(number, handle, ResolvConf());
            try
            {
                await RemoveLeftoversAsync(number, cancellationToken).ConfigureAwait(false);
                var swept = await SweepAbandonedAsync(number, cancellationToken).ConfigureAwait(false);
                if (swept > 0)
                {
                    LogSwept(_logger, swept);
                }
                await IpAsync(null, false, cancellationToken,
                    $"link add {slot.Bridge} type bridge",
                    $"addr add {slot.Gateway}/24 dev {slot.Bridge}",
                    $"link set {slot.Bridge} up").ConfigureAwait(false);
                // Without IPv6 on the bridge, containers cannot reach the host's services on its link-local address.
                var ipv6 = $"/proc/sys/net/ipv6/conf/{slot.Bridge}/disable_ipv6";
                if (File.Exists(ipv6))
                {
                    await File.WriteAllTextAsync(ipv6, "1", cancellationToken).ConfigureAwait(false);
                }
                await NftAsync(Ruleset(slot), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                await RemoveLeftoversAsync(number, CancellationToken.None).ConfigureAwait(false);
                handle.Dispose();
                throw new InvalidOperationException($"Setting up the container network 10.213.{number}.0/24 failed: {e.Message}", e);
            }
            LogReady(_logger, slot.Bridge, $"10.213.{number}.0/24", slot.Table);
            _slot = slot;
            return slot;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The worker's nftables table, replaced whole in one transaction.</summary>
    internal static string Ruleset(int number, string bridge, string table, IPAddress gateway)
    {
        var subnet = $"10.213.{number}.0/24";
        var range = $"{Range.Address}/{Range.Bits}";
        return $$"""
            table inet {{table}}
            delete table inet {{table}}
            table inet {{table}} {
                set relay_ports {
                    type inet_service
                }
                chain input {
                    type filter hook input priority filter; policy accept;
                    iifname "{{bridge}}" ip daddr {{gateway}} tcp dport @relay_ports accept
                    iifname "{{bridge}}" ct state established,related accept
                    iifname "{{bridge}}" meta nfproto ipv6 reject with icmpx admin-prohibited
                    iifname "{{bridge}}" ip daddr { 127.0.0.0/8, {{range}} } reject with icmpx admin-prohibited
                    ip daddr {{gateway}} iifname != { "lo", "{{bridge}}" } drop
                }
                chain forward {
                    type filter hook forward priority filter; policy accept;
                    iifname "{{bridge}}" oifname "{{Prefix}}*" reject with icmpx admin-prohibited
                    iifname "{{bridge}}" meta nfproto ipv6 reject with icmpx admin-prohibited
                    oifname "{{bridge}}" ct state established,related accept
                    oifname "{{bridge}}" drop
                }
                chain postrouting {
                    type nat hook postrouting priority srcnat; policy accept;
                    ip saddr {{subnet}} oifname != "{{bridge}}" masquerade
                }
            }

            """;
    }

    private static string Ruleset(Slot slot) => Ruleset(slot.Number, slot.Bridge, slot.Table, slot.Gateway);

    /// <summary>
    /// Takes the first free slot from the one the data dir hashes to, skipping a /24 the host already routes
    /// elsewhere. The lock is an open file description holding <c>flock</c>: the kernel drops it when the worker dies.
    /// </summary>
    private (int Number, SafeFileHandle Lock) TakeSlot()
    {
        Directory.CreateDirectory(LockDir);
        var routed = RoutedElsewhere();
        var preferred = SHA256.HashData(Encoding.UTF8.GetBytes(_dataDir))[0];
        for (var i = 0; i < 256; i++)
        {
            var number = (preferred + i) % 256;
            if (routed.Contains(number))
            {
                continue;
            }
            if (TryLock(number) is { } handle)
            {
                return (number, handle);
            }
        }
        throw new InvalidOperationException("Every container network slot (10.213.0.0/16 in /24s) is taken by another worker or routed elsewhere on this host.");
    }

    /// <summary>The slot's lock, or null when another worker holds it.</summary>
    private static SafeFileHandle? TryLock(int number)
    {
        SafeFileHandle handle;
        try
        {
            // .NET itself takes flock(LOCK_EX) for FileShare.None; the explicit call below holds even where that is turned off.
            handle = File.OpenHandle(Path.Combine(LockDir, $"slot-{number:x2}.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            return null;
        }
        if (Flock(handle, LockExclusive | LockNonBlocking) != 0)
        {
            handle.Dispose();
            return null;
        }
        return handle;
    }

    /// <summary>
    /// Removes what killed workers left in slots nobody holds now: a restarted worker may take another slot than its
    /// old one, and a slot's leftovers should not wait for the next worker that happens to take it.
    /// </summary>
    /// <returns>How many slots it cleaned.</returns>
    private static async Task<int> SweepAbandonedAsync(int mine, CancellationToken cancellationToken)
    {
        var names = new List<string>();
        if (Directory.Exists("/sys/class/net"))
        {
            names.AddRange(Directory.EnumerateFileSystemEntries("/sys/class/net").Select(p => Path.GetFileName(p)!));
        }
        if (Directory.Exists(NetnsDir))
        {
            names.AddRange(Directory.EnumerateFileSystemEntries(NetnsDir).Select(p => Path.GetFileName(p)!));
        }
        var slots = names
            .Where(n => n.Length >= 4 && n.StartsWith(Prefix, StringComparison.Ordinal))
            .Select(n => int.TryParse(n.AsSpan(2, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var number) ? number : -1)
            .Where(n => n >= 0 && n != mine)
            .Distinct()
            .ToList();
        var cleaned = 0;
        foreach (var number in slots)
        {
            using var handle = TryLock(number);
            if (handle is not null)
            {
                await RemoveLeftoversAsync(number, cancellationToken).ConfigureAwait(false);
                cleaned++;
            }
        }
        return cleaned;
    }

    /// <summary>
    /// Third octets of 10.213.x.0/24 networks that the host routes through an interface that is not Ferry's, by a
    /// route at least as narrow as the container range (a route for all of 10.0.0.0/8 does not count: ours is narrower
    /// and wins).
    /// </summary>
    private static HashSet<int> RoutedElsewhere()
    {
        var taken = new HashSet<int>();
        if (!File.Exists("/proc/net/route"))
        {
            return taken;
        }
        foreach (var line in File.ReadLines("/proc/net/route").Skip(1))
        {
            var fields = line.Split('\t', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (fields.Length < 8 || fields[0].StartsWith(Prefix, StringComparison.Ordinal)
                || !uint.TryParse(fields[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var destination)
                || !uint.TryParse(fields[7], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var mask)
                || System.Numerics.BitOperations.PopCount(mask) < Range.Bits)
            {
                continue;
            }
            // /proc/net/route prints addresses in host byte order: the first octet is the lowest byte.
            for (var third = 0; third < 256; third++)
            {
                var candidate = 10u | (213u << 8) | ((uint)third << 16);
                var candidateMask = 0x00FFFFFFu;
                var common = mask & candidateMask;
                if ((destination & common) == (candidate & common))
                {
                    taken.Add(third);
                }
            }
        }
        return taken;
    }

    /// <summary>Removes the slot's bridge, veths, namespaces and table, whoever made them.</summary>
    private static async Task RemoveLeftoversAsync(int number, CancellationToken cancellationToken)
    {
        var hex = number.ToString("x2", CultureInfo.InvariantCulture);
        var prefix = Prefix + hex;
        var commands = new List<string>();
        if (Directory.Exists("/sys/class/net"))
        {
            commands.AddRange(Directory.EnumerateFileSystemEntries("/sys/class/net").Select(Path.GetFileName)
                .Where(n => n!.StartsWith(prefix, StringComparison.Ordinal))
                .Select(n => $"link del {n}"));
        }
        if (Directory.Exists(NetnsDir))
        {
            foreach (var name in Directory.EnumerateFileSystemEntries(NetnsDir).Select(p => Path.GetFileName(p)!).Where(n => n.StartsWith(prefix + "-", StringComparison.Ordinal)))
            {
                DeleteNamespace(name);
            }
        }
        if (commands.Count > 0)
        {
            await IpAsync(null, true, cancellationToken, [.. commands]).ConfigureAwait(false);
        }
        await NftAsync($"table inet ferry_{hex}\ndelete table inet ferry_{hex}\n", cancellationToken).ConfigureAwait(false);
    }

    private static void EnableForwarding()
    {
        const string path = "/proc/sys/net/ipv4/ip_forward";
        if (File.Exists(path) && File.ReadAllText(path).Trim() != "1")
        {
            File.WriteAllText(path, "1");
        }
    }

    /// <summary>
    /// The resolver configuration containers get: the host's, unless it names a loopback resolver (systemd-resolved's
    /// stub, say), which a container cannot reach; then systemd-resolved's list of upstream servers, or the host's
    /// file without the loopback entries.
    /// </summary>
    private string ResolvConf()
    {
        const string host = "/etc/resolv.conf";
        var text = File.Exists(host) ? File.ReadAllText(host) : "";
        if (ContainerResolvConf(text) is not { } filtered)
        {
            return host;
        }
        const string upstream = "/run/systemd/resolve/resolv.conf";
        if (File.Exists(upstream) && ContainerResolvConf(File.ReadAllText(upstream)) is null)
        {
            return upstream;
        }
        var path = Path.Combine(_dataDir, "resolv.conf");
        Directory.CreateDirectory(_dataDir);
        File.WriteAllText(path, filtered);
        LogLoopbackResolver(_logger, path);
        return path;
    }

    /// <summary>Null when every nameserver of <paramref name="text"/> is reachable from a container; else the text without the loopback ones.</summary>
    internal static string? ContainerResolvConf(string text)
    {
        var lines = text.Split('\n');
        static bool Loopback(string line)
        {
            var parts = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            return parts.Length >= 2 && parts[0] == "nameserver" && IPAddress.TryParse(parts[1].Split('%')[0], out var address) && IPAddress.IsLoopback(address);
        }
        return lines.Any(Loopback) ? string.Join('\n', lines.Where(l => !Loopback(l))) : null;
    }

    /// <summary>Runs <c>ip -batch -</c> with <paramref name="commands"/>, in <paramref name="netns"/> if given; with <paramref name="force"/>, errors are ignored.</summary>
    private static async Task IpAsync(string? netns, bool force, CancellationToken cancellationToken, params string[] commands)
    {
        List<string> args = netns is null ? [] : ["-n", netns];
        if (force)
        {
            args.Add("-force");
        }
        args.AddRange(["-batch", "-"]);
        var (code, output) = await Processes.RunAsync("ip", args, string.Join('\n', commands) + "\n", cancellationToken).ConfigureAwait(false);
        if (code != 0 && !force)
        {
            throw new InvalidOperationException($"ip failed: {output.Trim()}");
        }
    }

    private static async Task NftAsync(string script, CancellationToken cancellationToken)
    {
        var (code, output) = await Processes.RunAsync("nft", ["-f", "-"], script, cancellationToken).ConfigureAwait(false);
        if (code != 0)
        {
            throw new InvalidOperationException($"nft failed: {output.Trim()}");
        }
    }

    /// <summary>Stops the relays and removes the bridge, what is left attached to it and the table, then gives the slot up.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var relay in _relays.Values.Where(r => r.IsValueCreated))
        {
            try
            {
                await (await relay.Value.ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is InvalidOperationException or System.Net.Sockets.SocketException)
            {
                // It never started.
            }
        }
        _relays.Clear();
        if (_slot is { } slot)
        {
            _slot = null;
            try
            {
                await RemoveLeftoversAsync(slot.Number, CancellationToken.None).ConfigureAwait(false);
            }
            catch (InvalidOperationException e)
            {
                LogCleanupFailed(_logger, slot.Table, e.Message);
            }
            slot.Lock.Dispose();
        }
    }

    private const int LockExclusive = 2;
    private const int LockNonBlocking = 4;

    private const int MountDetach = 2;

    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Umount2(string target, int flags);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(SafeFileHandle fd, int operation);

    [LoggerMessage(Level = LogLevel.Information, Message = "Container network {Subnet} on bridge {Bridge}, nftables table inet {Table}.")]
    private static partial void LogReady(ILogger logger, string bridge, string subnet, string table);

    [LoggerMessage(Level = LogLevel.Information, Message = "Containers reach the control plane at {Upstream} through http://{Gateway}:{Port}.")]
    private static partial void LogRelay(ILogger logger, Uri upstream, IPAddress gateway, int port);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The host's resolver is on loopback, which containers cannot reach; they get {Path} without it.")]
    private static partial void LogLoopbackResolver(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Information, Message = "Removed the container networks killed workers left in {Count} slots.")]
    private static partial void LogSwept(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Removing the container network {Table} failed: {Reason}")]
    private static partial void LogCleanupFailed(ILogger logger, string table, string reason);
}
