using System.Net;
using HaKubeLab.Chaos.Probes;
using HaKubeLab.Runtime;

namespace HaKubeLab.Tests.Unit;

/// <summary>The VIP-holder sources: a namespace's fib_trie, the host's ARP table, keepalived's notify lines.</summary>
public class ChaosVipHolderSourceTests
{
    // Trimmed /proc/<pid>/net/fib_trie of a lab node holding the VIP 192.168.100.190.
    private const string FibTrie = """
        Main:
          +-- 0.0.0.0/0 3 0 5
             |-- 0.0.0.0
                /0 universe UNICAST
             +-- 192.168.100.0/24 2 0 2
                |-- 192.168.100.0
                   /24 link UNICAST
                +-- 192.168.100.190/31 1 0 0
                   |-- 192.168.100.190
                      /32 host LOCAL
                   |-- 192.168.100.191
                      /32 host LOCAL
        Local:
          +-- 0.0.0.0/0 3 0 5
             |-- 192.168.100.255
                /32 link BROADCAST
        """;

    [Fact]
    public void Fib_trie_shows_a_local_address()
    {
        Assert.True(VipHolderSource.FibTrieHasLocal(FibTrie, "192.168.100.190"));
        Assert.True(VipHolderSource.FibTrieHasLocal(FibTrie, "192.168.100.191"));
        Assert.False(VipHolderSource.FibTrieHasLocal(FibTrie, "192.168.100.19"));
        Assert.False(VipHolderSource.FibTrieHasLocal(FibTrie, "192.168.100.255")); // broadcast, not local
        Assert.False(VipHolderSource.FibTrieHasLocal(FibTrie, "192.168.100.0"));
    }

    [Fact]
    public void Arp_table_gives_the_mac_of_a_complete_entry_only()
    {
        const string arp = """
            IP address       HW type     Flags       HW address            Mask     Device
            192.168.100.190  0x1         0x2         02:42:C0:A8:64:BF     *        br-1
            192.168.100.192  0x1         0x0         00:00:00:00:00:00     *        br-1
            """;
        Assert.Equal("02:42:c0:a8:64:bf", VipHolderSource.ArpMac(arp, "192.168.100.190"));
        Assert.Null(VipHolderSource.ArpMac(arp, "192.168.100.192"));
        Assert.Null(VipHolderSource.ArpMac(arp, "192.168.100.193"));
        Assert.Null(VipHolderSource.ArpMac(arp, "192.168.100.19")); // a prefix of .190 is another address
    }

    [Fact]
    public void Proc_files_kept_open_are_read_afresh_and_a_process_that_is_gone_is_let_go()
    {
        using var reader = new ProcReader();
        var self = Environment.ProcessId;
        var loopback = IPAddress.Loopback;
        Assert.True(reader.HasLocalAddress(self, loopback)); // loopback is local in every namespace
        Assert.False(reader.HasLocalAddress(self, IPAddress.Parse("192.0.2.1"))); // TEST-NET-1: local nowhere
        for (var i = 0; i < 3; i++) Assert.True(reader.HasLocalAddress(self, loopback)); // each look reads what changed since the last
        using var gone = System.Diagnostics.Process.Start("true")!;
        gone.WaitForExit();
        Assert.Null(reader.HasLocalAddress(gone.Id, loopback));
        reader.CloseAllBut([]);
        Assert.True(reader.HasLocalAddress(self, loopback)); // opened again after being let go
    }

    [Fact]
    public void A_namespaces_address_events_follow_an_address_added_and_removed()
    {
        Assert.True(Environment.IsPrivilegedProcess, "this test makes a network namespace of its own (unshare) and enters it (nsenter), which needs root, as the lab does");
        // A thread of this test in a new, empty network namespace: nothing in it is reachable from anywhere.
        using var ready = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        string? path = null;
        var holder = new Thread(() =>
        {
            if (Unshare(0x40000000) == 0) path = $"/proc/{Environment.ProcessId}/task/{GetTid()}/ns/net";
            ready.Set();
            release.Wait();
        }) { IsBackground = true };
        holder.Start();
        ready.Wait();
        try
        {
            Assert.True(path is not null, "unshare(CLONE_NEWNET) failed");
            using var watch = NetlinkAddresses.Open(path!);
            Assert.True(watch is not null, "could not watch the namespace's addresses");
            var address = IPAddress.Parse("192.0.2.7");
            Assert.Equal(false, watch!.Has(address));
            Ip(path!, "addr add 192.0.2.7/32 dev lo");
            Assert.Equal(true, watch.Has(address));
            Assert.Contains(address, watch.Addresses()!);
            Ip(path!, "addr del 192.0.2.7/32 dev lo");
            Assert.Equal(false, watch.Has(address));
        }
        finally
        {
            release.Set();
            holder.Join();
        }
    }

    private static void Ip(string netns, string arguments)
    {
        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("nsenter", $"--net={netns} ip {arguments}") { RedirectStandardError = true })!;
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"nsenter --net={netns} ip {arguments}: {error}");
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "unshare", SetLastError = true)]
    private static extern int Unshare(int flags);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetTid();

    [Fact]
    public void Keepalived_notify_lines_parse_with_nanoseconds_cut_to_ticks()
    {
        var v = VipHolderSource.ParseVrrpLine("HAKUBELAB-VRRP time=2026-11-25T05:34:32.854246048Z type=INSTANCE name=VI_1 state=MASTER priority=111");
        Assert.NotNull(v);
        Assert.Equal("MASTER", v.Value.State);
        Assert.Equal(111, v.Value.Priority);
        Assert.Equal(new DateTimeOffset(2026, 11, 25, 5, 34, 32, TimeSpan.Zero).AddTicks(8542460), v.Value.Wall);
        Assert.Null(VipHolderSource.ParseVrrpLine("Wed Nov 25 05:34:48 2026: (VI_1) Entering FAULT STATE"));
    }

    [Fact]
    public void Changes_are_between_the_previous_look_and_the_one_that_saw_them()
    {
        HolderSample[] samples = [new(0, ["m01"], "m01"), new(0.05, ["m01"], "m01"), new(0.1, [], "m01"), new(3.0, ["m02"], "m02")];
        var changes = VipHolderMonitor.Changes(samples);
        Assert.Equal(2, changes.Count);
        Assert.Equal(("m01", "none", 0.05, 0.1), (changes[0].From, changes[0].To, changes[0].PreviousLook, changes[0].T));
        Assert.Equal(("none", "m02"), (changes[1].From, changes[1].To));
    }
}
