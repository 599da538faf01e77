using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using HaKubeLab.Topology;

namespace HaKubeLab.Runtime;

/// <summary>
/// The external etcd cluster's TLS, made per lab the way kubeadm's "Set up a High Availability etcd cluster" guide lays
/// it out: an etcd CA; per member a server and a peer certificate (the member's name and address, localhost) and a
/// health-check client; one client certificate for the apiservers (CN kube-apiserver-etcd-client, O system:masters).
/// Made with .NET's CertificateRequest (ECDSA P-256), kept in the lab's secrets folder until <c>down</c>. Keys are SEC1
/// ("EC PRIVATE KEY"), as kubeadm writes its own: kubeadm 1.20's download-certs on a joining master accepts no PKCS#8 EC
/// key ("unknown data found in Secret entry").
/// </summary>
public static class EtcdPki
{
    /// <summary>The lab's etcd PKI folder: ca.crt/ca.key, apiserver-etcd-client.crt/key, and one folder per member.</summary>
    public static string Dir(string lab) => Path.Combine(LabPaths.LabDir(lab), "secrets", "etcd-pki");

    /// <summary>The folder mounted into member <paramref name="member"/>'s container at <see cref="Rendering.ExternalEtcd.PkiDir"/>.</summary>
    public static string MemberDir(string lab, string member) => Path.Combine(Dir(lab), member);

    public static string CaCertPath(string lab) => Path.Combine(Dir(lab), "ca.crt");
    public static string ApiServerClientCertPath(string lab) => Path.Combine(Dir(lab), "apiserver-etcd-client.crt");
    public static string ApiServerClientKeyPath(string lab) => Path.Combine(Dir(lab), "apiserver-etcd-client.key");

    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Makes whatever of the PKI is missing for <paramref name="topology"/>'s members; keeps what exists.</summary>
    public static void EnsureFor(LabTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        if (topology.Etcd.Topology != EtcdTopology.External) return;
        var lab = topology.Name;
        var caCert = CaCertPath(lab);
        var caKey = Path.Combine(Dir(lab), "ca.key");
        if (!File.Exists(caCert) || !File.Exists(caKey))
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var req = new CertificateRequest("CN=etcd-ca", key, HashAlgorithmName.SHA256);
            req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
            req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
            using var ca = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddYears(10));
            LabPaths.WriteAtomically(caKey, key.ExportECPrivateKeyPem() + "\n", Private);
            LabPaths.WriteAtomically(caCert, ca.ExportCertificatePem() + "\n");
        }
        using var issuer = X509Certificate2.CreateFromPemFile(caCert, caKey);
        var caPem = File.ReadAllText(caCert);

        if (!File.Exists(ApiServerClientCertPath(lab)) || !File.Exists(ApiServerClientKeyPath(lab)))
            Issue(issuer, "CN=kube-apiserver-etcd-client, O=system:masters", server: false, sans: null, ApiServerClientCertPath(lab), ApiServerClientKeyPath(lab));

        foreach (var member in topology.Etcd.Nodes)
        {
            var dir = MemberDir(lab, member.Name);
            LabPaths.WriteAtomically(Path.Combine(dir, "ca.crt"), caPem);
            var sans = new SubjectAlternativeNameBuilder();
            sans.AddDnsName(member.Name);
            sans.AddDnsName("localhost");
            sans.AddIpAddress(member.Ip);
            sans.AddIpAddress(IPAddress.Loopback);
            var built = sans.Build();
            foreach (var (name, cn, server) in new[] { ("server", $"CN={member.Name}", true), ("peer", $"CN={member.Name}", true), ("healthcheck-client", "CN=kube-etcd-healthcheck-client", false) })
            {
                var crt = Path.Combine(dir, name + ".crt");
                var key = Path.Combine(dir, name + ".key");
                // A member moved to another address (Relocate) needs a certificate for it.
                if (File.Exists(crt) && File.Exists(key) && (!server || CoversAddress(crt, member.Ip))) continue;
                Issue(issuer, cn, server, server ? built : null, crt, key);
            }
        }
    }

    private static bool CoversAddress(string certPath, IPAddress ip)
    {
        using var cert = X509Certificate2.CreateFromPem(File.ReadAllText(certPath));
        return cert.Extensions.OfType<X509SubjectAlternativeNameExtension>().Any(e => e.EnumerateIPAddresses().Contains(ip));
    }

    private static void Issue(X509Certificate2 issuer, string subject, bool server, X509Extension? sans, string certPath, string keyPath)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        var usages = new OidCollection { new Oid("1.3.6.1.5.5.7.3.2") }; // clientAuth
        if (server) usages.Add(new Oid("1.3.6.1.5.5.7.3.1")); // serverAuth (peers are both)
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(usages, false));
        if (sans is not null) req.CertificateExtensions.Add(sans);
        req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var cert = req.Create(issuer, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddYears(1), serial);
        LabPaths.WriteAtomically(keyPath, key.ExportECPrivateKeyPem() + "\n", Private);
        LabPaths.WriteAtomically(certPath, cert.ExportCertificatePem() + "\n");
    }
}
