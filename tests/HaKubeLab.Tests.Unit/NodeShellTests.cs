using HaKubeLab.Bootstrap;
using Renci.SshNet;

namespace HaKubeLab.Tests.Unit;

public class NodeShellTests
{
    [Fact]
    public void The_lab_ssh_client_offers_classic_key_exchange_only()
    {
        var info = new ConnectionInfo("127.0.0.1", "root", new PasswordAuthenticationMethod("root", "unused"));
        Assert.Contains(info.KeyExchangeAlgorithms.Keys, k => k.StartsWith("sntrup", StringComparison.Ordinal)); // SSH.NET's default offers it first

        SshNodeShell.PreferClassicKeyExchange(info);

        Assert.DoesNotContain(info.KeyExchangeAlgorithms.Keys, k => k.StartsWith("sntrup", StringComparison.Ordinal) || k.StartsWith("mlkem", StringComparison.Ordinal));
        Assert.Contains("curve25519-sha256", info.KeyExchangeAlgorithms.Keys);
    }
}
