using System.Diagnostics;
using System.Text.RegularExpressions;
using HaKubeLab.Rendering;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using k8s;

namespace HaKubeLab.Bootstrap;

/// <summary>Raised when a bootstrap step fails; says which step, on which host, and shows the evidence.</summary>
public sealed class BootstrapException(string message) : Exception(message);

/// <summary>What the bootstrap did and what the API said at the end.</summary>
public sealed record BootstrapResult(string KubeconfigPath, IReadOnlyList<(string Step, TimeSpan Duration, bool Skipped)> Steps, ReadinessReport Readiness, IReadOnlyList<string> Deviations);

/// <summary>
/// The runbook's section two, run the way a person would run it: over SSH into each master.
/// Every step is named, traced (an Activity on "HaKubeLab.Bootstrap", TelemetryNames.Bootstrap) and idempotent, so a rerun after a
/// failure resumes where it stopped. Works on lab nodes and, with an inventory file, on real hosts.
/// </summary>
public sealed partial class KubeadmBootstrap(LabTopology topology, Inventory inventory, KubernetesBuild build, string stateDir, IProgress<LabProgress>? progress = null)
{
    /// <summary>"bridge" (offline: Debian's bridge + host-local plugins) or "calico" (needs the calico manifest reachable).</summary>
    public string Cni { get; init; } = "bridge";
    public TimeSpan ReadinessDeadline { get; init; } = TimeSpan.FromMinutes(5);

    private readonly List<(string, TimeSpan, bool)> _steps = [];
    private readonly Dictionary<string, INodeShell> _shells = [];
    private readonly List<string> _interventions = [];

    /// <summary>What the lab changes against the runbook, said in the output instead of silently fixed.</summary>
    public IReadOnlyList<string> Deviations =>
    [
        $"kubernetesVersion: the runbook asks for {topology.Kubernetes.Version}; the lab built and renders {build.KubernetesVersion}.",
        topology.Etcd.Topology == EtcdTopology.External
            ? $"etcd: external topology: {string.Join(", ", topology.Etcd.Nodes.Select(n => n.Name))} run Debian's etcd {build.EtcdImageTag} in containers of their own, with TLS from a CA HaKubeLab makes per lab; ClusterConfiguration etcd.external names them."
            : $"etcd: Debian's etcd {build.EtcdImageTag} (kubeadm 1.20 defaults to 3.4.13-0); named in ClusterConfiguration etcd.local.imageTag.",
        topology.Profile == RenderProfile.Seed
            ? "cgroupDriver: the runbook's line sits in ClusterConfiguration, which kubeadm ignores (\"unknown field\"); the lab's KubeletConfiguration sets cgroupfs."
            : "profile recommended: controlPlaneEndpoint goes through haproxy (VIP:load-balancer port); haproxy checks /healthz over TLS; keepalived checks the API through the local haproxy.",
        $"kubeadm init {KubeadmFlags.Init}: CoreDNS is not in Debian (addon skipped); the ImagePull preflight looks for images the lab names otherwise.",
        Cni == "bridge" ? "CNI: calico cannot be fetched offline; a bridge + host-local CNI with a route per node is installed instead." : $"CNI: calico from {InitScriptRenderer.CalicoManifest} (the runbook's URL is a GitHub web page).",
        .. Interventions,
    ];

    /// <summary>What this bring-up did beyond the runbook's commands to get through a known race (a join tried again, a kubelet restarted).</summary>
    public IReadOnlyList<string> Interventions
    {
        get { lock (_interventions) return [.. _interventions]; }
    }

    private void Intervened(string what)
    {
        lock (_interventions) _interventions.Add(what);
    }

    public async Task<BootstrapResult> RunAsync(CancellationToken cancellationToken)
    {
        var actions = new LabActions(progress, cancellationToken, Telemetry.LabTelemetry.Bootstrap);
        try
        {
            await Step(actions, "connect over SSH", async () =>
            {
                var shells = await Task.WhenAll(inventory.Hosts.Select(h =>
                    SshNodeShell.ConnectAsync(h, inventory.PrivateKeyPem, inventory.KnownHostsPath, TimeSpan.FromSeconds(60), cancellationToken))).ConfigureAwait(false);
                foreach (var s in shells) _shells[s.Name] = s;
                return false;
            }).ConfigureAwait(false);

            await Step(actions, "load control-plane images", async () =>
            {
                // Lab nodes carry the images in a tarball; a real host has no such unit and pulls as usual.
                await Task.WhenAll(_shells.Values.Select(s => Must(s, "if systemctl cat hakubelab-preload-images >/dev/null 2>&1; then systemctl start hakubelab-preload-images; fi", cancellationToken))).ConfigureAwait(false);
                return false;
            }).ConfigureAwait(false);

            var first = RunbookFiles.FirstMaster(topology);
            if (topology.Etcd.Topology == EtcdTopology.External)
                await Step(actions, $"etcd client certificates to {first.Name}", () => ExternalEtcdClientAsync(first, cancellationToken)).ConfigureAwait(false);
            await Step(actions, $"kubeadm init on {first.Name}", () => InitAsync(first, cancellationToken)).ConfigureAwait(false);

            var kubeconfig = Path.Combine(stateDir, "kubeconfig");
            await Step(actions, "fetch admin kubeconfig", async () =>
            {
                var conf = await Must(_shells[first.Name], "cat /etc/kubernetes/admin.conf", cancellationToken).ConfigureAwait(false);
                LabPaths.WriteAtomically(kubeconfig, conf.Stdout, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                return false;
            }).ConfigureAwait(false);

            foreach (var node in topology.Nodes.Where(n => n != first))
                await Step(actions, $"kubeadm join {node.Name} --control-plane", () => JoinAsync(first, node, cancellationToken)).ConfigureAwait(false);

            using var client = ClusterReadiness.Client(kubeconfig);
            await Step(actions, $"install CNI ({Cni})", () => InstallCniAsync(client, first, cancellationToken)).ConfigureAwait(false);

            ReadinessReport? report = null;
            await Step(actions, "wait for readiness through the VIP", async () =>
            {
                report = await WaitForReadinessAsync(client, cancellationToken).ConfigureAwait(false);
                return false;
            }).ConfigureAwait(false);
            return new BootstrapResult(kubeconfig, [.. _steps], report!, Deviations);
        }
        finally
        {
            foreach (var s in _shells.Values) await s.DisposeAsync().ConfigureAwait(false);
            _shells.Clear();
        }
    }

    private async Task Step(LabActions actions, string name, Func<Task<bool>> body)
    {
        var clock = Stopwatch.StartNew();
        var skipped = await actions.RunAsync(name, async activity =>
        {
            var s = await body().ConfigureAwait(false);
            activity?.SetTag("hakubelab.skipped", s);
            return s;
        }).ConfigureAwait(false);
        _steps.Add((name, clock.Elapsed, skipped));
    }

    /// <summary>Runs the runbook's init script unless the first master already serves the API. Returns true when skipped.</summary>
    private async Task<bool> InitAsync(NodeSpec first, CancellationToken ct)
    {
        var shell = _shells[first.Name];
        var healthy = await shell.RunAsync("test -f /etc/kubernetes/admin.conf && kubectl --kubeconfig /etc/kubernetes/admin.conf get --raw /readyz", ct).ConfigureAwait(false);
        if (healthy.Succeeded && healthy.Stdout.Trim() == "ok") return true;
        var manifests = await shell.RunAsync("ls /etc/kubernetes/manifests 2>/dev/null | wc -l", ct).ConfigureAwait(false);
        if (manifests.Stdout.Trim() is not ("" or "0"))
            throw new BootstrapException($"{first.Name} has a half-done kubeadm init whose API does not answer. Start over: ./hakubelab down && ./hakubelab up.{Environment.NewLine}{await KubeletTailAsync(shell, ct).ConfigureAwait(false)}");

        await shell.WriteFileAsync(RunbookFiles.InitScriptPath, InitScriptRenderer.Render(topology, first, build), "0755", ct).ConfigureAwait(false);
        // The runbook's exports: MASTER_VIP and POD_SUBNET, then the script as written.
        var run = await shell.RunAsync($"cd /root && export MASTER_VIP={topology.Vip} POD_SUBNET={topology.Kubernetes.PodSubnet} && ./{InitScriptRenderer.FileName} 2>&1", ct).ConfigureAwait(false);
        if (!run.Succeeded)
            throw new BootstrapException($"kubeadm init on {first.Name} failed (exit {run.ExitCode}):{Environment.NewLine}{Tail(run.Stdout, 25)}{Environment.NewLine}{await KubeletTailAsync(shell, ct).ConfigureAwait(false)}");
        return false;
    }

    /// <summary>
    /// kubeadm's external-etcd guide: before init, the etcd CA and the apiserver's etcd client pair go to the first master at
    /// the paths ClusterConfiguration etcd.external names; <c>kubeadm init --upload-certs</c> then carries them to the
    /// joining masters. Proves the pair works: etcdctl from the master, with those files, asks every member for its health.
    /// </summary>
    private async Task<bool> ExternalEtcdClientAsync(NodeSpec first, CancellationToken ct)
    {
        var lab = topology.Name;
        foreach (var path in new[] { EtcdPki.CaCertPath(lab), EtcdPki.ApiServerClientCertPath(lab), EtcdPki.ApiServerClientKeyPath(lab) })
            if (!File.Exists(path))
                throw new BootstrapException($"the external etcd's client files are missing ({path}): the lab's containers make them. Bring the lab up again: ./hakubelab up (idempotent).");
        var shell = _shells[first.Name];
        await shell.WriteFileAsync(ExternalEtcd.CaFile, File.ReadAllText(EtcdPki.CaCertPath(lab)), "0644", ct).ConfigureAwait(false);
        await shell.WriteFileAsync(ExternalEtcd.CertFile, File.ReadAllText(EtcdPki.ApiServerClientCertPath(lab)), "0644", ct).ConfigureAwait(false);
        await shell.WriteFileAsync(ExternalEtcd.KeyFile, File.ReadAllText(EtcdPki.ApiServerClientKeyPath(lab)), "0600", ct).ConfigureAwait(false);
        var health = await shell.RunAsync($"etcdctl --endpoints={string.Join(",", ExternalEtcd.Endpoints(topology))} --cacert={ExternalEtcd.CaFile} --cert={ExternalEtcd.CertFile} --key={ExternalEtcd.KeyFile} --dial-timeout=3s endpoint health 2>&1", ct).ConfigureAwait(false);
        if (!health.Succeeded)
            throw new BootstrapException($"{first.Name} cannot reach the external etcd with the apiserver's client certificate (exit {health.ExitCode}):{Environment.NewLine}{Tail(health.Stdout, 10)}");
        return false;
    }

    [GeneratedRegex(@"--token\s+(\S+)\s+--discovery-token-ca-cert-hash\s+(\S+)")]
    private static partial Regex JoinCommand();

    private async Task<bool> JoinAsync(NodeSpec first, NodeSpec node, CancellationToken ct)
    {
        var shell = _shells[node.Name];
        var joined = await shell.RunAsync("test -f /etc/kubernetes/kubelet.conf && test -f /etc/kubernetes/manifests/kube-apiserver.yaml", ct).ConfigureAwait(false);
        if (joined.Succeeded) return true;

        var master = _shells[first.Name];
        var print = await Must(master, "kubeadm token create --print-join-command", ct).ConfigureAwait(false);
        var m = JoinCommand().Match(print.Stdout);
        if (!m.Success) throw new BootstrapException($"could not read a join command from {first.Name}: {print.Stdout.Trim()}");
        // A fresh certificate key each time: the uploaded certificates expire after two hours.
        var certs = await Must(master, $"kubeadm init phase upload-certs --upload-certs --config {RunbookFiles.KubeadmConfigPath} 2>/dev/null | tail -n 1", ct).ConfigureAwait(false);
        var key = certs.Stdout.Trim();

        var join = $"kubeadm join {KubeadmConfigRenderer.ControlPlaneEndpoint(topology)} --token {m.Groups[1].Value} --discovery-token-ca-cert-hash {m.Groups[2].Value} " +
                   $"--control-plane --certificate-key {key} --apiserver-advertise-address {node.Ip} --apiserver-bind-port {topology.Kubernetes.ApiServerPort} " +
                   $"--node-name {node.Name} --cri-socket /run/containerd/containerd.sock {KubeadmFlags.Join}";
        using var watching = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var watcher = WatchEtcdAdmissionAsync(shell, node, watching.Token);
        try
        {
            var tries = 0;
            while (true)
            {
                tries++;
                var run = await shell.RunAsync(join + " 2>&1 && rm -rf /root/.kube && mkdir -p /root/.kube && cp /etc/kubernetes/admin.conf /root/.kube/config", ct).ConfigureAwait(false);
                if (run.Succeeded) return false;
                if (tries < JoinTries && RefusedTokenInPreflight(run.Stdout))
                {
                    Intervened($"kubeadm join of {node.Name}: the token was refused in preflight (an apiserver that had not seen it yet); tried again ({tries + 1} of {JoinTries}).");
                    await Task.Delay(TimeSpan.FromSeconds(2), ct).ConfigureAwait(false);
                    continue;
                }
                throw new BootstrapException($"kubeadm join of {node.Name} failed (exit {run.ExitCode}{(tries > 1 ? $", try {tries} of {JoinTries}" : "")}):{Environment.NewLine}{Tail(run.Stdout, 25)}{Environment.NewLine}{await KubeletTailAsync(shell, ct).ConfigureAwait(false)}");
            }
        }
        finally
        {
            await watching.CancelAsync().ConfigureAwait(false);
            // The watcher is a helper: the join's own outcome is what counts, not a look at the journal that failed.
            try { await watcher.ConfigureAwait(false); }
            catch (Exception e) when (e is OperationCanceledException || !ct.IsCancellationRequested) { /* the join ended first, or one look failed */ }
        }
    }

    /// <summary>
    /// kubelet 1.20 under load: a static pod admitted before cadvisor knows the disk's size is refused for good ("Failed to
    /// admit pod etcd-...: ephemeral-storage"), the joining master's etcd never starts, and the two-member etcd loses quorum.
    /// Seen at load ~30 on this machine; a kubelet restart admits the pod. Watched for during the join, as compose-bootstrap.sh does.
    /// </summary>
    private async Task WatchEtcdAdmissionAsync(INodeShell shell, NodeSpec node, CancellationToken ct)
    {
        if (await RestartKubeletIfEtcdRefusedAsync(shell, TimeSpan.FromSeconds(4), ct).ConfigureAwait(false))
            Intervened($"kubelet on {node.Name} refused its etcd pod at start (ephemeral-storage not yet known, a kubelet 1.20 race under load): restarted the kubelet during the join.");
    }

    /// <summary>Looks at the kubelet's journal every <paramref name="every"/>; restarts the kubelet once on the refusal and returns true.</summary>
    internal static async Task<bool> RestartKubeletIfEtcdRefusedAsync(INodeShell shell, TimeSpan every, CancellationToken ct)
    {
        while (true)
        {
            await Task.Delay(every, ct).ConfigureAwait(false);
            var refused = await shell.RunAsync($"journalctl -u kubelet --no-pager 2>/dev/null | grep -q '{EtcdAdmissionRefused}'", ct).ConfigureAwait(false);
            if (!refused.Succeeded) continue;
            await shell.RunAsync("systemctl restart kubelet", ct).ConfigureAwait(false);
            return true;
        }
    }

    internal const string EtcdAdmissionRefused = "Failed to admit pod etcd-";

    private const int JoinTries = 5;

    /// <summary>
    /// The join's discovery was refused its token before the node changed anything: the VIP's haproxy sent it to an apiserver
    /// whose cache has not seen the token just created on the first master yet (a master that joined moments ago, on a
    /// loaded host). Seen once in a warm <c>up</c>; the same join a moment later goes through, so it is tried again.
    /// </summary>
    public static bool RefusedTokenInPreflight(string joinOutput) =>
        joinOutput.Contains("error execution phase preflight", StringComparison.Ordinal) && joinOutput.Contains("Unauthorized", StringComparison.Ordinal);

    private async Task<bool> InstallCniAsync(IKubernetes client, NodeSpec first, CancellationToken ct)
    {
        if (Cni == "calico")
        {
            var r = await _shells[first.Name].RunAsync(
                $"cd /root && rm -f calico-3.18.yaml && curl -fsSLo calico-3.18.yaml {InitScriptRenderer.CalicoManifest} && sed -i \"s#192\\.168\\.0\\.0/16#{topology.Kubernetes.PodSubnet}#\" calico-3.18.yaml && kubectl apply -f calico-3.18.yaml 2>&1", ct).ConfigureAwait(false);
            if (!r.Succeeded) throw new BootstrapException($"calico could not be installed (its manifest must be reachable from {first.Name}): {Tail(r.Stdout, 10)}");
            return false;
        }

        // Each node's podCIDR comes from the controller-manager once the node is registered.
        Dictionary<string, string> cidrs = [];
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                var nodes = await client.CoreV1.ListNodeAsync(cancellationToken: ct).ConfigureAwait(false);
                cidrs = nodes.Items.Where(n => !string.IsNullOrEmpty(n.Spec?.PodCIDR)).ToDictionary(n => n.Metadata.Name, n => n.Spec.PodCIDR);
                if (topology.Nodes.All(n => cidrs.ContainsKey(n.Name))) break;
            }
            // On a loaded machine the API right after the joins can miss the client's timeout: ask again until the deadline.
            catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !ct.IsCancellationRequested)) { }
            if (clock.Elapsed > TimeSpan.FromSeconds(90))
                throw new BootstrapException($"nodes without a podCIDR after 90 s: {string.Join(", ", topology.Nodes.Select(n => n.Name).Where(n => !cidrs.ContainsKey(n)))} (is kubernetes.podSubnet set, and the controller-manager running?)");
            await Task.Delay(1000, ct).ConfigureAwait(false);
        }

        await Task.WhenAll(topology.Nodes.Select(async node =>
        {
            var shell = _shells[node.Name];
            await shell.WriteFileAsync(CniConfigRenderer.ConfigPath, CniConfigRenderer.Render(System.Net.IPNetwork.Parse(cidrs[node.Name])), "0644", ct).ConfigureAwait(false);
            var routes = string.Join(" && ", topology.Nodes.Where(o => o != node).Select(o => $"ip route replace {cidrs[o.Name]} via {o.Ip}"));
            await Must(shell, routes, ct).ConfigureAwait(false);
        })).ConfigureAwait(false);
        return false;
    }

    private async Task<ReadinessReport> WaitForReadinessAsync(IKubernetes client, CancellationToken ct)
    {
        var masters = topology.Nodes.Select(n => n.Name).ToList();
        var clock = Stopwatch.StartNew();
        ReadinessReport report;
        while (true)
        {
            report = await ClusterReadiness.CheckAsync(client, ct).ConfigureAwait(false);
            if (report.IsReady(masters, stackedEtcd: topology.Etcd.Topology == EtcdTopology.Stacked)) return report;
            if (clock.Elapsed > ReadinessDeadline) break;
            await Task.Delay(2000, ct).ConfigureAwait(false);
        }
        var notReady = masters.Where(m => !report.ReadyNodes.Contains(m)).ToList();
        var evidence = new List<string>();
        foreach (var m in notReady)
            evidence.Add($"{m} is not Ready; its kubelet's last lines:{Environment.NewLine}{await KubeletTailAsync(_shells[m], ct).ConfigureAwait(false)}");
        throw new BootstrapException($"the cluster was not ready through the VIP within {ReadinessDeadline.TotalMinutes:0} min: {report}{Environment.NewLine}{string.Join(Environment.NewLine, evidence)}");
    }

    private static async Task<ExecResult> Must(INodeShell shell, string command, CancellationToken ct)
    {
        var r = await shell.RunAsync(command, ct).ConfigureAwait(false);
        return r.Succeeded ? r : throw new BootstrapException($"{shell.Name}: '{command}' failed (exit {r.ExitCode}): {(r.Stderr + r.Stdout).Trim()}");
    }

    private static async Task<string> KubeletTailAsync(INodeShell shell, CancellationToken ct)
    {
        var r = await shell.RunAsync("journalctl -u kubelet -n 15 --no-pager 2>&1", ct).ConfigureAwait(false);
        return $"--- kubelet on {shell.Name} ---{Environment.NewLine}{r.Stdout.TrimEnd()}";
    }

    private static string Tail(string text, int lines) => string.Join(Environment.NewLine, text.TrimEnd().Split('\n').TakeLast(lines));
}
