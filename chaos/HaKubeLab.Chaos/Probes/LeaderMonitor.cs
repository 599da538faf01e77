using HaKubeLab.Chaos.Analysis;
using HaKubeLab.Runtime;
using HaKubeLab.Topology;
using k8s;

namespace HaKubeLab.Chaos.Probes;

/// <summary>One look at one leader during a run; lease times are on the run clock (seconds since its start).</summary>
/// <param name="T">When the look started.</param>
/// <param name="Component">etcd, kube-controller-manager or kube-scheduler.</param>
/// <param name="Holder">The node that leads; null when none does or nothing could be read (<paramref name="Problem"/>).</param>
/// <param name="Identity">The lease's holderIdentity (a restarted process has a new one).</param>
/// <param name="Term">etcd's raft term.</param>
/// <param name="Renew">The lease's renewTime on the run clock.</param>
/// <param name="Acquire">The lease's acquireTime on the run clock.</param>
/// <param name="LeaseSeconds">The lease's duration.</param>
public sealed record LeaderSample(double T, string Component, string? Holder, string? Identity = null, long? Term = null, double? Renew = null, double? Acquire = null,
    int? LeaseSeconds = null, string? Problem = null);

/// <summary>
/// Samples the lab's leaders during a chaos run: the controller-manager and scheduler leases (one list of kube-system's
/// leases through the VIP, <see cref="LeaseListLook"/>) every <see cref="LeaseInterval"/>, and etcd's leader (every
/// member's status through etcd's HTTPS gateway, <see cref="EtcdStatusLook"/>) every <see cref="EtcdInterval"/>. The looks
/// run on the probe thread like the probes (<see cref="Loops"/>), over kept-alive connections: asked with KubernetesClient
/// and a docker exec of etcdctl they cost ~0.8 % of a core (measured), here a few hundredths. What the answers say is
/// read by the lab's one <see cref="LeaderSource"/>. The leases carry their own renewTime and acquireTime, so a handover
/// is timed by the leaders themselves, not by the sampling.
/// </summary>
public sealed class LeaderMonitor : IDisposable
{
    private readonly List<LeaderSample> _samples = [];
    private readonly List<ProbeLoop> _loops = [];
    private readonly RunClock _clock;
    private readonly int _members;
    private readonly List<(string Member, string? Json, string? Error)> _etcdAnswers = [];
    private double _etcdT;
    private readonly string? _etcdUnread;

    private LeaderMonitor(LabTopology topology, KubernetesClientConfiguration config, LeaderSource.EtcdClientCredentials? etcd, RunClock clock, string scenario,
        TimeSpan leaseInterval, TimeSpan etcdInterval)
    {
        _clock = clock;
        LeaseInterval = leaseInterval;
        EtcdInterval = etcdInterval;
        // A look ends before the next one starts: one look of each at a time, as a reader would.
        _loops.Add(new ProbeLoop(new LeaseListLook(config), leaseInterval, leaseInterval * 0.9, clock, scenario, OnLeases));
        if (etcd is null)
        {
            _etcdUnread = "no running master gave the etcd client certificate";
            return;
        }
        var members = LeaderSource.EtcdMembers(topology);
        _members = members.Count;
        foreach (var (name, ip) in members)
            _loops.Add(new ProbeLoop(new EtcdStatusLook(name, ip, etcd), etcdInterval, etcdInterval * 0.9, clock, scenario, (s, answer) => OnEtcd(name, s, answer)));
    }

    /// <summary>A monitor of lab <paramref name="topology"/>'s leaders; run its <see cref="Loops"/> on the probe reactor.</summary>
    /// <param name="config">The admin kubeconfig (the leases are read through its server, the VIP).</param>
    public static async Task<LeaderMonitor> CreateAsync(LeaderSource source, LabTopology topology, KubernetesClientConfiguration config, RunClock clock, string scenario,
        CancellationToken ct, TimeSpan? leaseInterval = null, TimeSpan? etcdInterval = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(clock);
        var etcd = await source.EtcdCredentialsAsync(ct).ConfigureAwait(false);
        return new LeaderMonitor(topology, config, etcd, clock, scenario, leaseInterval ?? TimeSpan.FromMilliseconds(500), etcdInterval ?? TimeSpan.FromSeconds(1));
    }

    public TimeSpan LeaseInterval { get; }
    public TimeSpan EtcdInterval { get; }

    /// <summary>The looks, for the <see cref="ProbeReactor"/> (they record nothing as probes).</summary>
    public IReadOnlyList<ProbeLoop> Loops => _loops;

    public IReadOnlyList<LeaderSample> Samples
    {
        get
        {
            lock (_samples)
            {
                FlushEtcd();
                return [.. _samples.OrderBy(s => s.T)];
            }
        }
    }

    public string Source =>
        $"leases kube-system/kube-controller-manager and kube-scheduler read through the VIP every {Durations(LeaseInterval)} (their renewTime and acquireTime are the leaders' own clocks); " +
        (_etcdUnread is null
            ? $"etcd's leader from every member's status (POST /v3/maintenance/status on port {LeaderSource.EtcdClientPort}, the etcd client certificate) every {Durations(EtcdInterval)}"
            : $"etcd's leader not read ({_etcdUnread})");

    private static string Durations(TimeSpan t) => Scenarios.Durations.Format(t);

    private void OnLeases(ProbeSample look, object? answer)
    {
        var (cm, scheduler) = answer is ValueTuple<Leader, Leader> leaders ? leaders : LeaderSource.LeasesUnread(look.Error ?? "no answer");
        var t = Math.Round(look.T, 4);
        lock (_samples)
        {
            _samples.Add(FromLease(t, cm));
            _samples.Add(FromLease(t, scheduler));
        }
    }

    private LeaderSample FromLease(double t, Leader l) =>
        new(t, l.Role, l.Holder, l.Identity, null, l.RenewTime is { } r ? Math.Round(_clock.At(r), 4) : null, l.Since is { } a ? Math.Round(_clock.At(a), 4) : null, l.LeaseDurationSeconds, l.Problem);

    /// <summary>One member's answer; the members' looks of one tick (started together) make one sample, once all are in.</summary>
    private void OnEtcd(string member, ProbeSample look, object? answer)
    {
        lock (_samples)
        {
            if (_etcdAnswers.Count > 0 && Math.Abs(look.T - _etcdT) > EtcdInterval.TotalSeconds / 2) FlushEtcd();
            if (_etcdAnswers.Count == 0) _etcdT = look.T;
            _etcdAnswers.Add((member, answer as string, look.Error));
            if (_etcdAnswers.Count == _members) FlushEtcd();
        }
    }

    private void FlushEtcd()
    {
        if (_etcdAnswers.Count == 0) return;
        var answered = _etcdAnswers.Where(a => a.Json is not null).Select(a => (a.Member, a.Json!)).ToList();
        var problem = answered.Count == 0 ? string.Join("; ", _etcdAnswers.Select(a => $"{a.Member}: {a.Error}")) : null;
        LeaderSource.EtcdStatus? status = null;
        try { if (answered.Count > 0) status = LeaderSource.ParseGatewayStatus(answered); }
        catch (System.Text.Json.JsonException e) { problem = "an answer was not etcd's status: " + e.Message; }
        var leader = LeaderSource.EtcdLeaderOf(status, problem);
        _samples.Add(new LeaderSample(Math.Round(_etcdT, 4), "etcd", leader.Holder, null, leader.Term, Problem: leader.Problem));
        _etcdAnswers.Clear();
    }

    public void Dispose()
    {
        foreach (var loop in _loops) loop.Probe.Dispose();
    }
}
