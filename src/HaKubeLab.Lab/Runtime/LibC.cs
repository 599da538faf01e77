using System.Runtime.InteropServices;

namespace HaKubeLab.Runtime;

/// <summary>The few libc calls the library makes itself (Linux).</summary>
internal static class LibC
{
    /// <summary>errno: no such process.</summary>
    public const int Esrch = 3;

    /// <summary>kill(2): signal 0 only asks whether the process exists; a negative pid signals a process group.</summary>
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static extern int Kill(int pid, int signal);
}
