using HaKubeLab.Bootstrap;

namespace HaKubeLab.Tests.Unit;

/// <summary>Which failed joins the bring-up tries again: only a token refused before the node changed anything.</summary>
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
}
