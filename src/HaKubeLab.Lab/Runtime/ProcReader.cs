using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace HaKubeLab.Runtime;

/// <summary>
/// The VIP-holder look's view of each node: its address events (<see cref="NetlinkAddresses"/>), or where those cannot be
/// had its fib_trie, and the host's ARP table. The /proc files are kept open between looks: a read from offset 0 makes the kernel write such a
/// file anew, so a look costs one pread per file instead of open, read and close, and makes no string. A kept-open
/// <c>/proc/&lt;pid&gt;/net</c> file holds on to the node's network namespace, which then outlives the node's process, so
/// whether the process still lives is asked first (signal 0): a node that died carries nothing from that moment on, as
/// when the file was opened afresh. Not thread-safe: the caller locks.
/// </summary>
internal sealed class ProcReader : IDisposable
{
    private readonly Dictionary<int, SafeFileHandle> _fibTries = [];
    private readonly Dictionary<int, NetlinkAddresses?> _netlink = [];
    private SafeFileHandle? _arp;
    private byte[] _bytes = new byte[16 * 1024];
    private char[] _chars = new char[16 * 1024];

    /// <summary>
    /// Whether the namespace of process <paramref name="pid"/> has <paramref name="address"/> as a local address; null when the
    /// process is gone. From the namespace's address events (<see cref="NetlinkAddresses"/>) where the runner may enter it,
    /// otherwise from its fib_trie.
    /// </summary>
    public bool? HasLocalAddress(int pid, IPAddress address)
    {
        if (LibC.Kill(pid, 0) != 0 && Marshal.GetLastPInvokeError() == LibC.Esrch)
        {
            Close(pid);
            return null;
        }
        if (!_netlink.TryGetValue(pid, out var watch)) _netlink[pid] = watch = NetlinkAddresses.Open($"/proc/{pid}/ns/net");
        if (watch is not null)
        {
            if (watch.Has(address) is { } has) return has;
            watch.Dispose();
            _netlink[pid] = null; // the socket failed: fib_trie from now on
        }
        try
        {
            if (!_fibTries.TryGetValue(pid, out var handle))
                _fibTries[pid] = handle = File.OpenHandle($"/proc/{pid}/net/fib_trie");
            return VipHolderSource.FibTrieHasLocal(ReadAll(handle), address.ToString());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Close(pid);
            return null;
        }
    }

    /// <summary>Whether every node looked at so far is read from its address events (none fell back to fib_trie).</summary>
    public bool UsesAddressEvents => _netlink.Count > 0 && _netlink.Values.All(w => w is not null);

    /// <summary>The MAC the host's neighbour table has for <paramref name="address"/>; null when absent, incomplete or unreadable.</summary>
    public string? ArpMac(string address)
    {
        try
        {
            _arp ??= File.OpenHandle("/proc/net/arp");
            return VipHolderSource.ArpMac(ReadAll(_arp), address);
        }
        catch (IOException)
        {
            _arp?.Dispose();
            _arp = null;
            return null;
        }
    }

    /// <summary>The whole file from offset 0 as ASCII text (a /proc file of addresses and names), in a buffer reused by the next read.</summary>
    private ReadOnlySpan<char> ReadAll(SafeFileHandle handle)
    {
        var length = 0;
        while (true)
        {
            if (length == _bytes.Length) Array.Resize(ref _bytes, _bytes.Length * 2);
            var n = RandomAccess.Read(handle, _bytes.AsSpan(length), length);
            if (n == 0) break;
            length += n;
        }
        if (_chars.Length < length) _chars = new char[_bytes.Length];
        var chars = Encoding.ASCII.GetChars(_bytes.AsSpan(0, length), _chars);
        return _chars.AsSpan(0, chars);
    }

    /// <summary>Closes the files of processes not in <paramref name="pids"/> (a node restarted: its old namespace must be let go).</summary>
    public void CloseAllBut(IReadOnlyCollection<int> pids)
    {
        if (_fibTries.Count <= pids.Count && _netlink.Count <= pids.Count) return;
        foreach (var pid in _fibTries.Keys.Concat(_netlink.Keys).Where(p => !pids.Contains(p)).Distinct().ToList()) Close(pid);
    }

    private void Close(int pid)
    {
        if (_fibTries.Remove(pid, out var handle)) handle.Dispose();
        if (_netlink.Remove(pid, out var watch)) watch?.Dispose();
    }

    public void Dispose()
    {
        foreach (var handle in _fibTries.Values) handle.Dispose();
        _fibTries.Clear();
        foreach (var watch in _netlink.Values) watch?.Dispose();
        _netlink.Clear();
        _arp?.Dispose();
        _arp = null;
    }
}
