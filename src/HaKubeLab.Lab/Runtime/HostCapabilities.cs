namespace HaKubeLab.Runtime;

/// <summary>What this host lets containers do, read from the host itself rather than guessed.</summary>
public static class HostCapabilities
{
    /// <summary>
    /// True when Docker's --privileged can work here: runc grants every capability, so the bounding
    /// set of this (root) process must hold them all. When CAP_SYS_RESOURCE is missing,
    /// runc fails with "unable to apply caps: operation not permitted".
    /// </summary>
    public static bool PrivilegedContainersWork()
    {
        var missing = MissingCapabilities();
        return missing is not null && missing.Count == 0;
    }

    /// <summary>Capability numbers (up to CAP_LAST_CAP) absent from this process's bounding set; null when unreadable.</summary>
    public static IReadOnlyList<int>? MissingCapabilities()
    {
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("CapBnd:", StringComparison.Ordinal));
            if (line is null) return null;
            var bounding = Convert.ToUInt64(line["CapBnd:".Length..].Trim(), 16);
            var last = int.TryParse(File.ReadAllText("/proc/sys/kernel/cap_last_cap").Trim(), out var l) ? l : 40;
            return [.. Enumerable.Range(0, last + 1).Where(c => (bounding & (1UL << c)) == 0)];
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    private static readonly string[] Names =
    [
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
        "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
        "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
        "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
    ];

    /// <summary>Docker's name for a capability number (CAP_SYS_RESOURCE = 24 is "SYS_RESOURCE").</summary>
    public static string CapabilityName(int cap) => cap >= 0 && cap < Names.Length ? Names[cap] : $"CAP_{cap}";

    /// <summary>Docker's names of the capabilities this host's bounding set lacks, among those Docker knows.</summary>
    public static IReadOnlyList<string> MissingCapabilityNames() =>
        [.. (MissingCapabilities() ?? []).Where(c => c < Names.Length).Select(CapabilityName)];
}
