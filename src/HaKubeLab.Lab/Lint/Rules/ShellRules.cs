using System.Text.RegularExpressions;
using HaKubeLab.Lint.Parsing;
using HaKubeLab.Rendering;

namespace HaKubeLab.Lint.Rules;

/// <summary>Rules on shell scripts: the init script, its settings, the docker run lines (SH001-SH004, KD003 on settings).</summary>
internal static partial class ShellRules
{
    [GeneratedRegex(@"https?://github\.com/([^/\s]+)/([^/\s]+)/blob/([^\s'""]+)")]
    private static partial Regex GithubBlob();

    /// <summary>docker run options that take a value as the next word.</summary>
    private static readonly HashSet<string> OptionsWithValue =
    [
        "-v", "--volume", "--name", "-e", "--env", "--env-file", "--net", "--network", "--restart", "--cap-add", "--cap-drop", "-p", "--publish", "--mount",
        "--entrypoint", "-u", "--user", "-w", "--workdir", "--sysctl", "--security-opt", "-l", "--label", "--log-driver", "--log-opt", "-h", "--hostname",
        "--ip", "--dns", "--add-host", "--device", "--tmpfs", "-m", "--memory", "--cpus", "--pid", "--ipc", "--uts", "--platform", "--pull", "--stop-signal",
    ];

    public static void Run(LintContext ctx)
    {
        foreach (var s in ctx.Shell)
        {
            foreach (var c in s.Commands) Command(ctx, s, c);
            foreach (var a in s.Assignments.Where(a => Regex.IsMatch(a.Name, "SUBNET|CIDR", RegexOptions.IgnoreCase)))
                if (KubeadmRules.SubnetProblem(a.Name, a.Value) is { } problem)
                    ctx.Findings.Add("KD003", s.File, a.Line, problem.Problem, KubeadmRules.SubnetEffect, problem.Fix);
        }
    }

    /// <summary>The image of a 'docker run' command line, or null when the line is not one.</summary>
    public static string? DockerRunImage(ShCommand c)
    {
        var w = c.Words.SkipWhile(x => x == "sudo").ToList();
        if (w.Count < 3 || w[0] != "docker" || w[1] != "run") return null;
        for (var i = 2; i < w.Count; i++)
        {
            if (w[i].StartsWith('-'))
            {
                if (!w[i].Contains('=') && OptionsWithValue.Contains(w[i])) i++;
                continue;
            }
            return w[i];
        }
        return null;
    }

    private static void Command(LintContext ctx, ShellFile s, ShCommand c)
    {
        var words = c.Words.SkipWhile(x => x == "sudo").ToList();
        if (words.Count == 0) return;

        foreach (Match m in GithubBlob().Matches(c.Text))
        {
            var raw = $"https://raw.githubusercontent.com/{m.Groups[1].Value}/{m.Groups[2].Value}/{m.Groups[3].Value}";
            var calico = m.Value.Contains("calico", StringComparison.OrdinalIgnoreCase) ? $", or the manifest calico publishes ({InitScriptRenderer.CalicoManifest})" : "";
            ctx.Findings.Add("SH001", s.File, c.Line, $"'{m.Value}' is GitHub's web page for the file (a 'blob' URL), not the file.",
                "The download saves an HTML page under the file's name; 'kubectl apply -f' on it fails (HTML is no Kubernetes object), and with 'set -e' the script stops there: no pod network is installed and the nodes stay NotReady.",
                $"Download the raw file: {raw}{calico}; pin it by commit rather than by branch.");
        }

        if (words[0] == "rm" && words.Skip(1).Any(w => w.StartsWith('-') && w.Contains('r') && w.Contains('f'))
            && words.Skip(1).FirstOrDefault(w => Regex.IsMatch(w, @"^(/root|\$HOME|\$\{HOME\}|~)/\.kube/?$")) is { } dir)
            ctx.Findings.Add("SH002", s.File, c.Line, $"'{c.Text}' deletes the whole {dir}.",
                "Every kubeconfig there (other clusters' contexts, credentials) and kubectl's cache are gone, with no copy.",
                $"Only replace the config: 'mkdir -p {dir.TrimEnd('/')} && install -m 600 /etc/kubernetes/admin.conf {dir.TrimEnd('/')}/config' (back up an existing config first).");

        if (words[0] == "cp" && words.Skip(1).Any(w => Regex.IsMatch(w, @"^-[A-Za-z]*i[A-Za-z]*$")))
            ctx.Findings.Add("SH003", s.File, c.Line, "'cp -i' in a script.",
                "When the target exists cp stops to ask; without a terminal it reads the answer from the script's stdin and, getting none, silently skips the copy: the old kubeconfig stays. Here it only works because of the rm -rf before it.",
                "Use 'cp' (or 'install -m 600') without -i in scripts; kubeadm's '-i' advice is for typing by hand.");

        if (DockerRunImage(c) is { } image)
        {
            var name = image.Split('@')[0];
            var slash = name.LastIndexOf('/');
            var colon = name.LastIndexOf(':');
            var tag = colon > slash ? name[(colon + 1)..] : null;
            if (!image.Contains('@') && (tag is null || tag == "latest"))
                ctx.Findings.Add("SH004", s.File, c.Line, $"'docker run ... {image}' uses no version tag: it runs whatever 'latest' is when each host pulls it.",
                    image.StartsWith("haproxy", StringComparison.Ordinal)
                        ? "The masters can run different haproxy versions, and a re-run picks up a new one: the official image runs as user haproxy since 2.4 (the runbook's pidfile then stops it), and new versions change defaults."
                        : "The masters can run different versions, and a re-run or a new host picks up a new one with changed behaviour.",
                    $"Pin the version: {(image.StartsWith("haproxy", StringComparison.Ordinal) ? "e.g. haproxy:2.8 (and drop the pidfile line)" : $"{name}:<version>")}, or by digest.");
        }
    }
}
