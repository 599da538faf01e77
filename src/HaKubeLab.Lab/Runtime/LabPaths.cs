namespace HaKubeLab.Runtime;

/// <summary>Where a lab keeps its files on the host: the runbook's per-node files and its secrets.</summary>
public static class LabPaths
{
    /// <summary>HAKUBELAB_STATE, else $XDG_STATE_HOME/hakubelab, else ~/.local/state/hakubelab.</summary>
    public static string StateRoot()
    {
        var env = Environment.GetEnvironmentVariable("HAKUBELAB_STATE");
        if (!string.IsNullOrEmpty(env)) return env;
        var xdg = Environment.GetEnvironmentVariable("XDG_STATE_HOME");
        var baseDir = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state");
        return Path.Combine(baseDir, "hakubelab");
    }

    public static string LabDir(string lab) => Path.Combine(StateRoot(), "labs", lab);

    /// <summary>The host folder standing for a node's root: /etc/haproxy/haproxy.cfg of m01 is &lt;lab&gt;/nodes/m01/etc/haproxy/haproxy.cfg.</summary>
    public static string NodeRoot(string lab, string node) => Path.Combine(LabDir(lab), "nodes", node);

    /// <summary>The lab's SSH key pair lives here (private key 0600); the public half is every node's authorized_keys.</summary>
    public static string SshKeyPath(string lab) => Path.Combine(LabDir(lab), "secrets", "id_rsa");

    public static string AuthorizedKeysPath(string lab) => SshKeyPath(lab) + ".pub";

    public static string KubeconfigPath(string lab) => Path.Combine(LabDir(lab), "kubeconfig");

    public static string HostPathOf(string lab, string node, string nodePath) => Path.Combine(NodeRoot(lab, node), nodePath.TrimStart('/'));

    /// <summary>Writes to a temporary name and moves it into place, so a reader never sees half a file. Returns false when the content was already there.</summary>
    public static bool WriteAtomically(string path, string content, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead)
    {
        if (File.Exists(path) && File.ReadAllText(path) == content) return false;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var tmp = path + ".tmp-" + Environment.ProcessId;
        File.WriteAllText(tmp, content);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(tmp, mode);
        File.Move(tmp, path, overwrite: true);
        return true;
    }
}
