using System.Buffers.Binary;
using System.Net;
using System.Runtime.InteropServices;

namespace HaKubeLab.Runtime;

/// <summary>
/// The IPv4 addresses of one network namespace, kept current from the kernel's own address events (rtnetlink, group
/// RTMGRP_IPV4_IFADDR): one dump when opened, then a look reads only what changed, usually nothing (one non-blocking
/// recv that finds the socket empty). Reading <c>/proc/&lt;pid&gt;/net/fib_trie</c> instead made the kernel format the
/// namespace's whole routing trie at every look: a tenth of the probe thread with the VIP-holder look at 50 ms.
/// The socket is made inside the namespace (setns(2) on a thread of its own, which needs CAP_SYS_ADMIN, as root has) and
/// stays bound to it. Linux only; not thread-safe: the caller locks.
/// </summary>
internal sealed class NetlinkAddresses : IDisposable
{
    private readonly int _fd;
    private readonly HashSet<uint> _addresses = [];
    private readonly byte[] _buffer = new byte[64 * 1024];
    private uint _sequence;

    private NetlinkAddresses(int fd) => _fd = fd;

    /// <summary>
    /// Watches the network namespace at <paramref name="namespacePath"/> (<c>/proc/&lt;pid&gt;/ns/net</c>); null when that is not
    /// possible here (not Linux, no permission to enter it, the process gone): the caller reads /proc instead.
    /// </summary>
    public static NetlinkAddresses? Open(string namespacePath)
    {
        if (!OperatingSystem.IsLinux()) return null;
        var fd = -1;
        // setns changes only the calling thread's namespace: a thread of its own makes the socket there and goes back.
        var thread = new Thread(() =>
        {
            try
            {
                using var own = File.OpenHandle("/proc/thread-self/ns/net");
                using var target = File.OpenHandle(namespacePath);
                if (SetNs(target.DangerousGetHandle(), CloneNewNet) != 0) return;
                try { fd = OpenSocket(); }
                finally
                {
                    // Should going back fail, the thread ends here anyway; nothing else runs on it.
                    _ = SetNs(own.DangerousGetHandle(), CloneNewNet);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or DllNotFoundException or EntryPointNotFoundException) { fd = -1; }
        }, 256 * 1024) { IsBackground = true, Name = "hakubelab netns" };
        thread.Start();
        thread.Join();
        if (fd < 0) return null;
        var watch = new NetlinkAddresses(fd);
        if (!watch.RequestDump())
        {
            watch.Dispose();
            return null;
        }
        return watch;
    }

    /// <summary>Whether <paramref name="address"/> is one of the namespace's addresses now; null when the socket failed (close it and fall back).</summary>
    public bool? Has(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (!Drain()) return null;
        return _addresses.Contains(Key(address));
    }

    /// <summary>The namespace's IPv4 addresses now (for tests and diagnostics).</summary>
    public IReadOnlyCollection<IPAddress>? Addresses()
    {
        if (!Drain()) return null;
        return [.. _addresses.Select(a => new IPAddress(BitConverter.GetBytes(a)))];
    }

    private static uint Key(IPAddress address) => BitConverter.ToUInt32(address.MapToIPv4().GetAddressBytes());

    /// <summary>Reads every message waiting; a lost message (the socket's buffer overran) means a new dump. False when the socket failed.</summary>
    private bool Drain()
    {
        while (true)
        {
            var n = Recv(_fd, _buffer, (nuint)_buffer.Length, MsgDontWait);
            if (n < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == EAgain) return true;
                if (errno == EIntr) continue;
                if (errno == ENoBufs && RequestDump()) continue;
                return false;
            }
            if (n == 0) return false;
            Parse(_buffer.AsSpan(0, (int)n));
        }
    }

    private void Parse(ReadOnlySpan<byte> data)
    {
        while (data.Length >= NlMsgHdrLength)
        {
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(data);
            if (length < NlMsgHdrLength || length > data.Length) return;
            var type = BinaryPrimitives.ReadUInt16LittleEndian(data[4..]);
            var body = data[NlMsgHdrLength..length];
            // Dump answers and events alike (the end of a dump, errors and other messages say nothing about addresses).
            if (type is RtmNewAddr or RtmDelAddr && body.Length >= IfAddrMsgLength && body[0] == AfInet && LocalAddress(body[IfAddrMsgLength..]) is { } address)
            {
                if (type == RtmNewAddr) _addresses.Add(address);
                else _addresses.Remove(address);
            }
            data = data[Math.Min(data.Length, Align(length))..];
        }
    }

    /// <summary>IFA_LOCAL (the interface's own address), or IFA_ADDRESS where there is no IFA_LOCAL.</summary>
    private static uint? LocalAddress(ReadOnlySpan<byte> attributes)
    {
        uint? address = null;
        while (attributes.Length >= 4)
        {
            var length = BinaryPrimitives.ReadUInt16LittleEndian(attributes);
            var type = BinaryPrimitives.ReadUInt16LittleEndian(attributes[2..]);
            if (length < 4 || length > attributes.Length) break;
            if (length == 8 && type is IfaLocal or IfaAddress)
            {
                var value = BitConverter.ToUInt32(attributes.Slice(4, 4));
                if (type == IfaLocal) return value;
                address = value;
            }
            attributes = attributes[Math.Min(attributes.Length, Align(length))..];
        }
        return address;
    }

    /// <summary>Asks for every IPv4 address anew (at the start, and after an overrun lost events); what was known is forgotten.</summary>
    private bool RequestDump()
    {
        _addresses.Clear();
        var request = new byte[NlMsgHdrLength + IfAddrMsgLength];
        BinaryPrimitives.WriteUInt32LittleEndian(request, (uint)request.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(request.AsSpan(4), RtmGetAddr);
        BinaryPrimitives.WriteUInt16LittleEndian(request.AsSpan(6), NlmFRequest | NlmFDump);
        BinaryPrimitives.WriteUInt32LittleEndian(request.AsSpan(8), ++_sequence);
        request[NlMsgHdrLength] = AfInet;
        return Send(_fd, request, (nuint)request.Length, 0) == request.Length;
    }

    private static int OpenSocket()
    {
        var fd = Socket(AfNetlink, SockRaw | SockCloexec, NetlinkRoute);
        if (fd < 0) return -1;
        var address = new SockAddrNl { Family = AfNetlink, Groups = RtmGrpIpv4IfAddr };
        // A bigger receive buffer than the default: a burst of address changes must not overrun it between looks.
        var size = 1 << 20;
        _ = SetSockOpt(fd, SolSocket, SoRcvBuf, ref size, sizeof(int));
        if (Bind(fd, ref address, (uint)Marshal.SizeOf<SockAddrNl>()) != 0)
        {
            _ = Close(fd);
            return -1;
        }
        return fd;
    }

    private static int Align(int length) => (length + 3) & ~3;

    public void Dispose() => _ = Close(_fd);

    private const int CloneNewNet = 0x40000000;
    private const ushort AfNetlink = 16;
    private const byte AfInet = 2;
    private const int SockRaw = 3;
    private const int SockCloexec = 0x80000;
    private const int NetlinkRoute = 0;
    private const uint RtmGrpIpv4IfAddr = 0x10;
    private const int SolSocket = 1;
    private const int SoRcvBuf = 8;
    private const int MsgDontWait = 0x40;
    private const int EIntr = 4;
    private const int EAgain = 11;
    private const int ENoBufs = 105;
    private const int NlMsgHdrLength = 16;
    private const int IfAddrMsgLength = 8;
    private const ushort RtmNewAddr = 20;
    private const ushort RtmDelAddr = 21;
    private const ushort RtmGetAddr = 22;
    private const ushort NlmFRequest = 0x1;
    private const ushort NlmFDump = 0x300;
    private const ushort IfaAddress = 1;
    private const ushort IfaLocal = 2;

    [StructLayout(LayoutKind.Sequential)]
    private struct SockAddrNl
    {
        public ushort Family;
        public ushort Pad;
        public uint Pid;
        public uint Groups;
    }

    [DllImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static extern int SetNs(IntPtr fd, int nstype);

    [DllImport("libc", EntryPoint = "socket", SetLastError = true)]
    private static extern int Socket(int domain, int type, int protocol);

    [DllImport("libc", EntryPoint = "bind", SetLastError = true)]
    private static extern int Bind(int fd, ref SockAddrNl address, uint length);

    [DllImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    private static extern int SetSockOpt(int fd, int level, int name, ref int value, int length);

    [DllImport("libc", EntryPoint = "send", SetLastError = true)]
    private static extern nint Send(int fd, byte[] buffer, nuint length, int flags);

    [DllImport("libc", EntryPoint = "recv", SetLastError = true)]
    private static extern nint Recv(int fd, byte[] buffer, nuint length, int flags);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int Close(int fd);
}
