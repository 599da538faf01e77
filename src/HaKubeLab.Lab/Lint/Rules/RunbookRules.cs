using System.Text.RegularExpressions;

namespace HaKubeLab.Lint.Rules;

/// <summary>Rules on a runbook's prose against its own files (RB001, RB002).</summary>
internal static partial class RunbookRules
{
    [GeneratedRegex(@"监听端口[^0-9]{0,20}(\d{2,5})|(?i:\blisten(?:s|ing)?\b(?:\s+on)?(?:\s+port)?\s*:?\s*\**\s*)(\d{2,5})\b")]
    private static partial Regex ListenPort();

    [GeneratedRegex(@"按源地址保持会话|会话保持|(?i:session\s+(persistence|affinity|stickiness)|sticky\s+sessions?|source[- ]ip\s+(persistence|affinity))")]
    private static partial Regex Persistence();

    public static void Run(LintContext ctx)
    {
        var lbPorts = ctx.LoadBalancerPorts;
        var sticky = ctx.Haproxy.SelectMany(h => h.Sections).Any(s =>
            s.Directives.Any(d => (d.Keyword == "balance" && d.Arg(0) == "source") || d.Keyword.StartsWith("stick", StringComparison.Ordinal)));
        var balance = ctx.Haproxy.SelectMany(h => h.Sections).SelectMany(s => s.All("balance")).FirstOrDefault();
        foreach (var md in ctx.Runbooks)
        {
            foreach (var prose in md.Prose)
            {
                if (lbPorts.Count > 0 && ListenPort().Match(prose.Text) is { Success: true } m)
                {
                    var port = int.Parse(m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value);
                    if (!lbPorts.Contains(port))
                        ctx.Findings.Add("RB001", md.File, prose.Line, $"The text says the load balancer listens on {port}; the runbook's haproxy.cfg binds {string.Join("/", lbPorts)}.",
                            $"Readers build or test against {port}: on the masters that is the apiserver's own port, so what they reach is one apiserver, not the load balancer (and the kubeadm endpoint on {port} makes the same mistake).",
                            $"Make the text and haproxy.cfg agree (the masters' apiservers already use 6443 on the same hosts, so haproxy cannot: say {lbPorts[0]}, and use it in controlPlaneEndpoint).");
                }
                if (Persistence().Match(prose.Text) is { Success: true } p && ctx.Haproxy.Count > 0 && !sticky)
                    ctx.Findings.Add("RB002", md.File, prose.Line, $"The text asks for source-IP session persistence ('{p.Value}'); haproxy.cfg balances {balance?.Arg(0) ?? "roundrobin"} without any stickiness.",
                        "The runbook contradicts itself; a reader who adds persistence pins each client (each kubelet, each controller) to one apiserver, which the apiservers do not need (they share state through etcd) and which unbalances the load after a failover.",
                        "Drop the persistence requirement from the text: roundrobin is right for kube-apiservers.");
            }
        }
    }
}
