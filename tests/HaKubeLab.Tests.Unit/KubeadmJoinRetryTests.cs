using HaKubeLab.Bootstrap;
using HaKubeLab.Runtime;

namespace HaKubeLab.Tests.Unit;

/// <summary>
/// What a join does about known races: a token refused before the node changed anything is tried again; a kubelet that
/// refused its etcd pod at start is restarted once.
/// </summary>
public class KubeadmJoinRetryTests
{
    [Fact]
    public void A_token_refused_in_preflight_is_tried_again()
    {
        // As a warm `up` printed it (m03 joining right after m02; the discovery went through the VIP to m02's apiserver).
        const string output = """
            [preflight] Running pre-flight checks
            [preflight] Reading configuration from the cluster...
            [preflight] FYI: You can look at this config file with 'kubectl -n kube-system get cm kubeadm-config -o yaml'
            error execution phase preflight: unable to fetch the kubeadm-config ConfigMap: failed to get config map: Unauthorized
            To see the stack trace of this error execute with --v=5 or higher
            """;
        Assert.True(KubeadmBootstrap.RefusedTokenInPreflight(output));
    }

    [Theory]
    // Past preflight the node has certificates and manifests: trying again would need a reset, so it fails with the output.
    [InlineData("error execution phase control-plane-join/update-status: error uploading configuration: Unauthorized")]
    // A preflight error the node itself causes: the same join fails again the same way.
    [InlineData("error execution phase preflight: [preflight] Some fatal errors occurred:\n\t[ERROR Port-6443]: Port 6443 is in use")]
    [InlineData("")]
    public void Other_failures_are_not_tried_again(string output) => Assert.False(KubeadmBootstrap.RefusedTokenInPreflight(output));

    /// <summary>A node whose kubelet journal shows the refusal from the given look on; records every command.</summary>
    private sealed class JournalNode(int refusedFromLook) : INodeShell
    {
        private int _looks;
        public List<string> Commands { get; } = [];
        public string Name => "m02";

        public Task<ExecResult> RunAsync(string command, CancellationToken cancellationToken)
        {
            lock (Commands) Commands.Add(command);
            var refused = command.StartsWith("journalctl", StringComparison.Ordinal) && ++_looks >= refusedFromLook;
            return Task.FromResult(new ExecResult(command.StartsWith("journalctl", StringComparison.Ordinal) && !refused ? 1 : 0, "", ""));
        }

        public Task WriteFileAsync(string path, string content, string mode, CancellationToken cancellationToken) => Task.CompletedTask;
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    [Fact]
    public async Task A_kubelet_that_refused_its_etcd_pod_is_restarted_once()
    {
        var node = new JournalNode(refusedFromLook: 3);
        Assert.True(await KubeadmBootstrap.RestartKubeletIfEtcdRefusedAsync(node, TimeSpan.FromMilliseconds(1), CancellationToken.None));
        Assert.Equal(3, node.Commands.Count(c => c.Contains(KubeadmBootstrap.EtcdAdmissionRefused, StringComparison.Ordinal)));
        Assert.Equal(["systemctl restart kubelet"], node.Commands.Where(c => c.StartsWith("systemctl", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_join_that_ends_without_the_refusal_restarts_nothing()
    {
        var node = new JournalNode(refusedFromLook: int.MaxValue);
        using var joined = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => KubeadmBootstrap.RestartKubeletIfEtcdRefusedAsync(node, TimeSpan.FromMilliseconds(5), joined.Token));
        Assert.NotEmpty(node.Commands);
        Assert.DoesNotContain(node.Commands, c => c.StartsWith("systemctl", StringComparison.Ordinal));
    }
}
