using System.Security.Cryptography.X509Certificates;
using HaKubeLab.Runtime;
using k8s;

namespace HaKubeLab.Chaos.Probes;

/// <summary>
/// GET of kube-system's lease list through the VIP with the kubeconfig's credentials, on the probe thread like a probe; its
/// answer (<see cref="Leader"/>s of the controller-manager and the scheduler, read by <see cref="LeaderSource.LeasesOf(string)"/>)
/// goes to the leader monitor, not to the probe results.
/// </summary>
public sealed class LeaseListLook : HttpsProbe
{
    private readonly byte[] _request;

    public LeaseListLook(KubernetesClientConfiguration config, TimeSpan? connectTimeout = null)
        : base("leases", $"{new Uri(Kubeconfig.Checked(config).Host).Authority}{LeaderSource.LeaseListPath}", new Uri(config.Host), config.SslCaCerts ?? [],
            Kubeconfig.ClientCertificate(config), connectTimeout ?? TimeSpan.FromSeconds(1), ApiServerTlsName) =>
        _request = Http1.Request("GET", LeaderSource.LeaseListPath, Authority, Kubeconfig.Bearer(config), null);

    protected override byte[] FirstRequest() => _request;

    /// <summary>200: the two leaders as the answer; anything else fails the look.</summary>
    protected override (ProbeOutcome? Outcome, byte[]? Next) Judge(Http1Response answer, int exchange) =>
        (answer.Status == 200 ? new ProbeOutcome(null, LeaderSource.LeasesOf(answer.Body)) : new ProbeOutcome("HTTP " + answer.Status), null);
}

/// <summary>
/// One etcd member's status through its HTTP gateway (POST /v3/maintenance/status, what <c>etcdctl endpoint status</c> asks over
/// gRPC) with the etcd client certificate a master keeps; the answer is the status JSON, for <see cref="LeaderSource.ParseGatewayStatus"/>.
/// </summary>
public sealed class EtcdStatusLook : HttpsProbe
{
    private readonly byte[] _request;

    public EtcdStatusLook(string member, System.Net.IPAddress address, LeaderSource.EtcdClientCredentials credentials, TimeSpan? connectTimeout = null)
        : base("etcd." + member, $"https://{address}:{LeaderSource.EtcdClientPort}/v3/maintenance/status", new Uri($"https://{address}:{LeaderSource.EtcdClientPort}"),
            Ca(credentials), X509Certificate2.CreateFromPem(credentials.CertificatePem, credentials.KeyPem), connectTimeout ?? TimeSpan.FromSeconds(1),
            member)
        => _request = Http1.Request("POST", "/v3/maintenance/status", Authority, null, "{}");

    private static X509Certificate2Collection Ca(LeaderSource.EtcdClientCredentials credentials)
    {
        ArgumentNullException.ThrowIfNull(credentials);
        var ca = new X509Certificate2Collection();
        ca.ImportFromPem(credentials.CaPem);
        return ca;
    }

    protected override byte[] FirstRequest() => _request;

    protected override (ProbeOutcome? Outcome, byte[]? Next) Judge(Http1Response answer, int exchange) =>
        (answer.Status == 200 ? new ProbeOutcome(null, answer.Body) : new ProbeOutcome("HTTP " + answer.Status), null);
}
