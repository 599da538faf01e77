using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Docker.DotNet;
using Docker.DotNet.Models;
using HaKubeLab.Topology;
using k8s;
using k8s.Models;

namespace HaKubeLab.Runtime;

/// <summary>Who leads one part of the control plane, and since when.</summary>
/// <param name="Role">etcd, kube-controller-manager, kube-scheduler or vip.</param>
/// <param name="Holder">The node (master or etcd member) that leads; null when none does or it could not be read.</param>
/// <param name="Since">When the holder became leader, where known (lease acquireTime, etcd's "elected leader" log line, keepalived's MASTER line).</param>
/// <param name="SinceSource">Where <paramref name="Since"/> comes from, in words.</param>
/// <param name="Identity">The lease's holderIdentity (<c>&lt;node&gt;_&lt;uuid&gt;</c>): a restarted process has a new one.</param>
/// <param name="Term">etcd's raft term (one more per election).</param>
/// <param name="Transitions">The lease's leaseTransitions (how often it changed hands).</param>
/// <param name="RenewTime">The lease's last renewal.</param>
/// <param name="LeaseDurationSeconds">How long the lease counts after a renewal.</param>
/// <param name="Problem">Why nothing could be read (API unreachable, no member answered).</param>
public sealed record Leader(
    string Role,
    string? Holder,
    DateTimeOffset? Since = null,
    string SinceSource = "",
    string? Identity = null,
    long? Term = null,
    int? Transitions = null,
    DateTimeOffset? RenewTime = null,
    int? LeaseDurationSeconds = null,
    string? Problem = null)
{
    /// <summary>The lease ran out at <paramref name="now"/> (its holder stopped renewing): nobody leads, whatever holderIdentity says.</summary>
    public bool Expired(DateTimeOffset now) => RenewTime is { } r && LeaseDurationSeconds is { } d && now > r.AddSeconds(d);

    /// <summary>"m01 since 14:38:17.280 (lease acquireTime; 0 transitions)", "none (...)".</summary>
    public string Describe(DateTimeOffset now) =>
        Holder is null ? $"none{(Problem is null ? "" : $" ({Problem})")}"
        : $"{Holder}{(Expired(now) ? " (lease EXPIRED)" : "")}" +
          (Since is { } s ? $" since {s.ToUniversalTime():HH:mm:ss.fff} UTC ({SinceSource}{(Transitions is { } t ? $"; {t} transition{(t == 1 ? "" : "s")}" : "")}{(Term is { } term ? $"; term {term}" : "")})"
              : Term is { } term2 ? $" (term {term2})" : "");
}

/// <summary>The leaders of a lab at one moment: etcd's, the controller-manager's and scheduler's (their leases), and the VIP holder.</summary>
public sealed record LeaderSnapshot(DateTimeOffset At, Leader Etcd, Leader ControllerManager, Leader Scheduler, Leader Vip)
{
    public IEnumerable<Leader> All => [Etcd, ControllerManager, Scheduler, Vip];
}

/// <summary>
/// The one leader source of a lab: etcd's leader (etcdctl endpoint status, through a running master with kubeadm's
/// client certificates; stacked: the masters' members, external: the etcd nodes'), the controller-manager and scheduler
/// leaders (their Lease objects in kube-system, read through the VIP with KubernetesClient) and the VIP holder (the one
/// <see cref="VipHolderSource"/>). With <c>history</c> it also says since when each leads: the lease's acquireTime,
/// etcd's "elected leader ... at term N" log line, keepalived's last MASTER line. <c>status</c>, <see cref="RunningLab"/>,
/// the AppHost and the chaos runner's leader probe use it.
/// </summary>
public sealed partial class LeaderSource : IDisposable
{
    public const string ControllerManagerLease = "kube-controller-manager";
    public const string SchedulerLease = "kube-scheduler";

    private readonly IDockerClient _docker;
    private readonly LabTopology _topology;
    private readonly VipHolderSource _vip;
    private readonly IKubernetes? _client;

    /// <param name="kubeconfig">The admin kubeconfig (server: the cluster endpoint through the VIP); null without Kubernetes.</param>
    /// <param name="vip">The lab's one VIP-holder source.</param>
    public LeaderSource(IDockerClient docker, LabTopology topology, string? kubeconfig, VipHolderSource vip, TimeSpan? apiTimeout = null)
    {
        _docker = docker ?? throw new ArgumentNullException(nameof(docker));
        _topology = topology ?? throw new ArgumentNullException(nameof(topology));
        _vip = vip ?? throw new ArgumentNullException(nameof(vip));
        if (kubeconfig is not null && File.Exists(kubeconfig)) _client = HaKubeLab.Bootstrap.ClusterReadiness.Client(kubeconfig, apiTimeout ?? TimeSpan.FromSeconds(4));
    }

    /// <summary>Whether Kubernetes leaders can be read (a kubeconfig was given).</summary>
    public bool Kubernetes => _client is not null;

    /// <summary>Every leader now; with <paramref name="history"/> also since when (log reads: a few hundred ms more).</summary>
    public async Task<LeaderSnapshot> ReadAsync(bool history = true, CancellationToken ct = default)
    {
        var at = DateTimeOffset.UtcNow;
        var etcd = EtcdAsync(history, ct);
        var leases = LeasesAsync(ct);
        var vip = VipAsync(history, ct);
        await Task.WhenAll(etcd, leases, vip).ConfigureAwait(false);
        var (cm, scheduler) = await leases.ConfigureAwait(false);
        return new LeaderSnapshot(at, await etcd.ConfigureAwait(false), cm, scheduler, await vip.ConfigureAwait(false));
    }

    /// <summary>The controller-manager's and the scheduler's leases.</summary>
    public async Task<(Leader ControllerManager, Leader Scheduler)> LeasesAsync(CancellationToken ct = default)
    {
        if (_client is null)
            return (new Leader(ControllerManagerLease, null, Problem: "no Kubernetes"), new Leader(SchedulerLease, null, Problem: "no Kubernetes"));
        // One list of kube-system's leases rather than a read of each: half the requests for a monitor that asks twice a second.
        try { return LeasesOf(await _client.CoordinationV1.ListNamespacedLeaseAsync("kube-system", cancellationToken: ct).ConfigureAwait(false)); }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested) { return LeasesUnread(Short(e)); }
    }

    /// <summary>The API path of kube-system's lease list (what <see cref="LeasesAsync"/> reads; the chaos runner's leader monitor GETs it itself).</summary>
    public const string LeaseListPath = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases";

    /// <summary>The controller-manager's and the scheduler's leaders in a list of kube-system's leases.</summary>
    public static (Leader ControllerManager, Leader Scheduler) LeasesOf(V1LeaseList leases)
    {
        ArgumentNullException.ThrowIfNull(leases);
        Leader Of(string name) => leases.Items?.FirstOrDefault(l => l.Metadata?.Name == name) is { } lease
            ? FromLease(name, lease)
            : new Leader(name, null, Problem: $"no lease kube-system/{name} (yet)");
        return (Of(ControllerManagerLease), Of(SchedulerLease));
    }

    /// <summary>The same from the list's JSON (the body of a GET of <see cref="LeaseListPath"/>).</summary>
    public static (Leader ControllerManager, Leader Scheduler) LeasesOf(string json) => LeasesOf(KubernetesJson.Deserialize<V1LeaseList>(json));

    /// <summary>Both leases unread because the API did not answer (<paramref name="why"/>: timeout, refused ...).</summary>
    public static (Leader ControllerManager, Leader Scheduler) LeasesUnread(string why)
    {
        var problem = "the API did not answer through the VIP: " + why;
        return (new Leader(ControllerManagerLease, null, Problem: problem), new Leader(SchedulerLease, null, Problem: problem));
    }

    /// <summary>A lease as a <see cref="Leader"/>: holderIdentity <c>&lt;node&gt;_&lt;uuid&gt;</c>, since acquireTime.</summary>
    public static Leader FromLease(string role, V1Lease lease)
    {
        ArgumentNullException.ThrowIfNull(lease);
        var spec = lease.Spec;
        var identity = spec?.HolderIdentity;
        var node = string.IsNullOrEmpty(identity) ? null : identity.Split('_', 2)[0];
        DateTimeOffset? Utc(DateTime? d) => d is { } v ? new DateTimeOffset(DateTime.SpecifyKind(v, v.Kind == DateTimeKind.Unspecified ? DateTimeKind.Utc : v.Kind)).ToUniversalTime() : null;
        return new Leader(role, node, Utc(spec?.AcquireTime), "lease acquireTime", identity, null, spec?.LeaseTransitions, Utc(spec?.RenewTime), spec?.LeaseDurationSeconds,
            node is null ? "the lease names no holder" : null);
    }

    /// <summary>Who leads etcd (and, with <paramref name="history"/>, since when from etcd's own log).</summary>
    public async Task<Leader> EtcdAsync(bool history = true, CancellationToken ct = default)
    {
        if (_client is null) return new Leader("etcd", null, Problem: "no Kubernetes");
        EtcdStatus? status = null;
        string? problem = null;
        async Task<bool> AskAsync(string master)
        {
            try
            {
                var r = await DockerExec.RunAsync(_docker, LabNames.Container(_topology.Name, master, LabRole.Node), EtcdctlStatusCommand(_topology), ct).ConfigureAwait(false);
                status = ParseEndpointStatus(r.Stdout, _topology);
                if (status.Members.Count > 0)
                {
                    _lastEtcdMaster = master;
                    return true;
                }
                problem = (r.Stderr + r.Stdout).Trim().Split('\n')[0];
            }
            catch (Exception e) when (e is DockerApiException or JsonException or IOException) { problem = Short(e); }
            return false;
        }
        // Ask the master that answered last time first; list the running masters only when it does not (a monitor asks every second).
        var asked = _lastEtcdMaster is { } last && await AskAsync(last).ConfigureAwait(false);
        List<string>? running = null;
        if (!asked)
        {
            running = await RunningMastersAsync(ct).ConfigureAwait(false);
            if (running.Count == 0) return new Leader("etcd", null, Problem: "no master runs to ask etcd from");
            foreach (var master in running)
                if (master != _lastEtcdMaster && await AskAsync(master).ConfigureAwait(false)) break;
        }
        var leader = EtcdLeaderOf(status, problem);
        if (leader.Holder is null || !history) return leader;
        var elected = await ElectionFromLogsAsync(running ?? await RunningMastersAsync(ct).ConfigureAwait(false), ct).ConfigureAwait(false);
        return elected is { } e2 && e2.Term == leader.Term
            ? leader with { Since = e2.At, SinceSource = "etcd's log: elected at term " + e2.Term }
            : leader;
    }

    /// <summary>etcd's leader as the members that answered say it (<paramref name="problem"/>: why none did, when none did).</summary>
    public static Leader EtcdLeaderOf(EtcdStatus? status, string? problem = null)
    {
        if (status is null || status.Members.Count == 0) return new Leader("etcd", null, Problem: "no etcd member answered" + (problem is null ? "" : $": {problem}"));
        if (status.Leader is null) return new Leader("etcd", null, Term: status.Term, Problem: $"no leader among {string.Join(", ", status.Members)} (quorum lost?)");
        return new Leader("etcd", status.Leader, Term: status.Term);
    }

    /// <summary>The etcd members a client asks, by name and address: the masters when stacked, the etcd nodes when external.</summary>
    public static IReadOnlyList<(string Name, System.Net.IPAddress Ip)> EtcdMembers(LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        return External(topology) ? [.. topology.Etcd.Nodes.Select(n => (n.Name, n.Ip))] : [.. topology.Nodes.Select(n => (n.Name, n.Ip))];
    }

    private static bool External(LabTopology topology) => topology.Etcd.Topology == EtcdTopology.External && !topology.Etcd.Nodes.IsEmpty;

    /// <summary>
    /// The etcd CA and the client certificate a master keeps for reading etcd (kubeadm's layout): stacked, the etcd
    /// healthcheck client; external, the apiserver's etcd client (external members do not know the healthcheck CA's client).
    /// </summary>
    private static (string Ca, string Certificate, string Key) EtcdClientFiles(LabTopology topology) => External(topology)
        ? ("/etc/kubernetes/pki/etcd/ca.crt", "/etc/kubernetes/pki/apiserver-etcd-client.crt", "/etc/kubernetes/pki/apiserver-etcd-client.key")
        : ("/etc/kubernetes/pki/etcd/ca.crt", "/etc/kubernetes/pki/etcd/healthcheck-client.crt", "/etc/kubernetes/pki/etcd/healthcheck-client.key");

    /// <summary>What a client needs to ask etcd's members itself over HTTPS (PEM).</summary>
    public sealed record EtcdClientCredentials(string CaPem, string CertificatePem, string KeyPem);

    /// <summary>
    /// The etcd CA and client certificate, read once from a running master, for asking the members directly over HTTPS
    /// (the chaos runner's leader monitor asks every second: a docker exec of etcdctl each time cost ~0.8 % of a core).
    /// Null when no master runs or the files are not there (no Kubernetes yet).
    /// </summary>
    public async Task<EtcdClientCredentials?> EtcdCredentialsAsync(CancellationToken ct = default)
    {
        var (ca, certificate, key) = EtcdClientFiles(_topology);
        foreach (var master in await RunningMastersAsync(ct).ConfigureAwait(false))
        {
            try
            {
                var r = await DockerExec.RunAsync(_docker, LabNames.Container(_topology.Name, master, LabRole.Node), ["cat", ca, certificate, key], ct).ConfigureAwait(false);
                if (r.ExitCode == 0 && SplitPem(r.Stdout) is [var caPem, var certificatePem, var keyPem]) return new EtcdClientCredentials(caPem, certificatePem, keyPem);
            }
            catch (DockerApiException) { /* try the next master */ }
        }
        return null;
    }

    [GeneratedRegex(@"-----BEGIN (?<kind>[A-Z ]+)-----.*?-----END \k<kind>-----", RegexOptions.Singleline)]
    private static partial Regex PemBlock();

    /// <summary>The PEM blocks of concatenated files, in order.</summary>
    public static IReadOnlyList<string> SplitPem(string text) => [.. PemBlock().Matches(text ?? "").Select(m => m.Value + "\n")];

    /// <summary>Who holds the VIP and, with <paramref name="history"/>, since keepalived's last MASTER line there.</summary>
    public async Task<Leader> VipAsync(bool history = true, CancellationToken ct = default)
    {
        var reading = await _vip.ReadAsync(ct).ConfigureAwait(false);
        if (reading.Holder is not { } holder) return new Leader("vip", null, Problem: reading.DualMaster ? $"{reading.Label} all carry it" : "no node carries it");
        if (!history) return new Leader("vip", holder);
        try
        {
            var lines = await LogsAsync(LabNames.Container(_topology.Name, holder, LabRole.Keepalived), 300, timestamps: false, ct).ConfigureAwait(false);
            var master = lines.Select(VipHolderSource.ParseVrrpLine).LastOrDefault(v => v is { State: "MASTER" });
            return master is { } m ? new Leader("vip", holder, m.Wall, "keepalived's MASTER line (notify script)") : new Leader("vip", holder);
        }
        catch (DockerApiException) { return new Leader("vip", holder); }
    }

    /// <summary>etcd's client port on every member.</summary>
    public const int EtcdClientPort = 2379;

    /// <summary>The etcdctl command, run inside a master, that asks every member for its status (JSON).</summary>
    public static IReadOnlyList<string> EtcdctlStatusCommand(LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        var (ca, certificate, key) = EtcdClientFiles(topology);
        return ["etcdctl", $"--endpoints={string.Join(",", EtcdMembers(topology).Select(m => $"https://{m.Ip}:{EtcdClientPort}"))}",
            $"--cacert={ca}", $"--cert={certificate}", $"--key={key}",
            "--dial-timeout=1s", "--command-timeout=2s", "endpoint", "status", "-w", "json"];
    }

    /// <summary>What <c>etcdctl endpoint status -w json</c> said: the members that answered, the leader's node and the highest raft term.</summary>
    public sealed record EtcdStatus(IReadOnlyList<string> Members, string? Leader, long? Term, IReadOnlyDictionary<string, ulong> MemberIds);

    /// <summary>
    /// Parses etcdctl's JSON (an array of {Endpoint, Status{header{member_id}, leader, raft_term}}); endpoints are mapped to
    /// node names by address (masters when stacked, etcd nodes when external). A member whose leader field is 0 knows no leader.
    /// Unanswered endpoints are simply absent (etcdctl reports them on stderr).
    /// </summary>
    public static EtcdStatus ParseEndpointStatus(string json, LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        return ParseEndpointStatus(json, (topology.Etcd.Topology == EtcdTopology.External && !topology.Etcd.Nodes.IsEmpty
            ? topology.Etcd.Nodes.Select(n => (n.Name, Ip: n.Ip.ToString()))
            : topology.Nodes.Select(n => (n.Name, Ip: n.Ip.ToString()))).ToDictionary(x => x.Ip, x => x.Name));
    }

    /// <summary>
    /// The lab's one reading of etcdctl's status JSON (the leader, the members that answered, the term), used by the leader
    /// timeline, the control-plane health and the external members' health alike. <paramref name="byIp"/> maps a member's
    /// address to its name.
    /// </summary>
    public static EtcdStatus ParseEndpointStatus(string json, IReadOnlyDictionary<string, string> byIp)
    {
        ArgumentNullException.ThrowIfNull(byIp);
        var answers = new List<(string, JsonElement)>();
        var start = json?.IndexOf('[') ?? -1;
        if (start < 0) return Decide([]);
        using var doc = JsonDocument.Parse(json![start..]);
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            if (!e.TryGetProperty("Endpoint", out var ep) || !e.TryGetProperty("Status", out var status)) continue;
            var host = new Uri(ep.GetString()!).Host;
            var name = byIp.GetValueOrDefault(host, host == "127.0.0.1" ? "" : host);
            if (name.Length > 0) answers.Add((name, status));
        }
        return Decide(answers);
    }

    /// <summary>
    /// The same reading of what each member said through etcd's HTTP gateway (the body of POST /v3/maintenance/status, which
    /// writes 64-bit numbers as strings); members that did not answer are simply absent.
    /// </summary>
    public static EtcdStatus ParseGatewayStatus(IEnumerable<(string Member, string Json)> answers)
    {
        ArgumentNullException.ThrowIfNull(answers);
        var docs = answers.Select(a => (a.Member, Doc: JsonDocument.Parse(a.Json))).ToList();
        try { return Decide([.. docs.Select(d => (d.Member, d.Doc.RootElement))]); }
        finally { foreach (var d in docs) d.Doc.Dispose(); }
    }

    /// <summary>From each answering member's status: the members, their ids, the leader most of them name (and only if it answered itself: a dead leader is no leader), the highest term.</summary>
    private static EtcdStatus Decide(IReadOnlyList<(string Name, JsonElement Status)> answers)
    {
        var members = new List<string>();
        var ids = new Dictionary<string, ulong>();
        var leaders = new Dictionary<ulong, int>();
        long? term = null;
        static ulong? U64(JsonElement e) => e.ValueKind switch
        {
            JsonValueKind.Number => e.GetUInt64(),
            JsonValueKind.String when ulong.TryParse(e.GetString(), CultureInfo.InvariantCulture, out var v) => v,
            _ => null,
        };
        foreach (var (name, status) in answers)
        {
            members.Add(name);
            if (status.TryGetProperty("header", out var header) && header.TryGetProperty("member_id", out var id) && U64(id) is { } memberId) ids[name] = memberId;
            if (status.TryGetProperty("leader", out var l) && U64(l) is { } leader and not 0) leaders[leader] = leaders.GetValueOrDefault(leader) + 1;
            // etcd 3.4 writes the term as raftTerm (and raft_term in the header); older etcdctl as raft_term.
            foreach (var t in new[] { status.TryGetProperty("raftTerm", out var a) ? a : default, status.TryGetProperty("raft_term", out var b) ? b : default,
                                      status.TryGetProperty("header", out var h2) && h2.TryGetProperty("raft_term", out var c) ? c : default })
                if (U64(t) is { } v) term = Math.Max(term ?? 0, (long)v);
        }
        var top = leaders.OrderByDescending(kv => kv.Value).Select(kv => kv.Key).FirstOrDefault();
        var leaderName = top == 0 ? null : ids.FirstOrDefault(kv => kv.Value == top).Key;
        return new EtcdStatus(members, leaderName, term, ids);
    }

    /// <summary>An election etcd logged: "... elected leader &lt;id&gt; at term N" or "&lt;id&gt; became leader at term N", with the line's timestamp.</summary>
    public sealed record EtcdElection(DateTimeOffset At, long Term, string LeaderId);

    [GeneratedRegex(@"^(?<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)\s.*?(?:elected leader (?<id>[0-9a-f]+) at term (?<term>\d+)|(?<id2>[0-9a-f]+) became leader at term (?<term2>\d+))")]
    private static partial Regex ElectionLine();

    /// <summary>
    /// The latest election in log lines that start with an RFC 3339 timestamp (the CRI log files of a static pod,
    /// or <c>docker logs --timestamps</c>): the highest term, at the earliest line that reports it.
    /// </summary>
    public static EtcdElection? LatestElection(IEnumerable<string> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        EtcdElection? best = null;
        foreach (var line in lines)
        {
            var m = ElectionLine().Match(line);
            if (!m.Success) continue;
            var ts = m.Groups["ts"].Value;
            var dot = ts.IndexOf('.');
            if (dot > 0 && ts.Length - dot - 2 > 7) ts = ts[..(dot + 8)] + "Z";
            if (!DateTimeOffset.TryParse(ts, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at)) continue;
            var term = long.Parse(m.Groups["term"].Success ? m.Groups["term"].Value : m.Groups["term2"].Value, CultureInfo.InvariantCulture);
            var id = m.Groups["id"].Success ? m.Groups["id"].Value : m.Groups["id2"].Value;
            if (best is null || term > best.Term || (term == best.Term && at < best.At)) best = new EtcdElection(at, term, id);
        }
        return best;
    }

    private async Task<EtcdElection?> ElectionFromLogsAsync(IReadOnlyList<string> runningMasters, CancellationToken ct)
    {
        var lines = new List<string>();
        try
        {
            if (_topology.Etcd.Topology == EtcdTopology.External && !_topology.Etcd.Nodes.IsEmpty)
            {
                foreach (var member in _topology.Etcd.Nodes)
                {
                    try { lines.AddRange(await LogsAsync(LabNames.Container(_topology.Name, member.Name, LabRole.Etcd), 400, timestamps: true, ct).ConfigureAwait(false)); }
                    catch (DockerApiException) { /* a member that is gone has nothing to add */ }
                }
            }
            else
            {
                foreach (var master in runningMasters)
                {
                    var r = await DockerExec.RunAsync(_docker, LabNames.Container(_topology.Name, master, LabRole.Node),
                        ["sh", "-c", "for f in $(ls -t /var/log/pods/kube-system_etcd-*/etcd/*.log 2>/dev/null | head -2); do grep -E 'elected leader|became leader' \"$f\" | tail -n 5; done"], ct).ConfigureAwait(false);
                    lines.AddRange(r.Stdout.Split('\n'));
                }
            }
        }
        catch (DockerApiException) { }
        return LatestElection(lines);
    }

    private async Task<List<string>> LogsAsync(string container, int tail, bool timestamps, CancellationToken ct)
    {
        using var stream = await _docker.Containers.GetContainerLogsAsync(container, new ContainerLogsParameters
        {
            ShowStdout = true, ShowStderr = true, Tail = tail.ToString(CultureInfo.InvariantCulture), Timestamps = timestamps,
        }, ct).ConfigureAwait(false);
        var (stdout, stderr) = await stream.ReadOutputToEndAsync(ct).ConfigureAwait(false);
        return [.. (stdout + "\n" + stderr).Split('\n')];
    }

    private volatile string? _lastEtcdMaster;

    private async Task<List<string>> RunningMastersAsync(CancellationToken ct)
    {
        var containers = await _docker.Containers.ListContainersAsync(new ContainersListParameters { Filters = RunningLab.LabFilter(_topology.Name) }, ct).ConfigureAwait(false);
        return [.. _topology.Nodes.Select(n => n.Name).Where(n => containers.Any(c => c.State == "running" && c.Names.Any(x => x.TrimStart('/') == LabNames.Container(_topology.Name, n, LabRole.Node))))];
    }

    private static string Short(Exception e) => e.GetBaseException().Message.Split('\n')[0];

    public void Dispose() => _client?.Dispose();
}
