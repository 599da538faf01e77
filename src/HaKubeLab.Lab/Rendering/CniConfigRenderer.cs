using System.Net;

namespace HaKubeLab.Rendering;

/// <summary>
/// A CNI that works offline with Debian's containernetworking-plugins: a bridge per node with
/// host-local addresses from the node's podCIDR; routes between nodes carry cross-node pod traffic.
/// </summary>
public static class CniConfigRenderer
{
    public const string ConfigPath = "/etc/cni/net.d/10-hakubelab-bridge.conflist";

    public static string Render(IPNetwork podCidr) => $$"""
        {
          "cniVersion": "0.4.0",
          "name": "hakubelab",
          "plugins": [
            {
              "type": "bridge",
              "bridge": "cni0",
              "isGateway": true,
              "ipMasq": false,
              "hairpinMode": true,
              "ipam": {
                "type": "host-local",
                "ranges": [[{ "subnet": "{{podCidr}}" }]],
                "routes": [{ "dst": "0.0.0.0/0" }]
              }
            },
            { "type": "portmap", "capabilities": { "portMappings": true } }
          ]
        }

        """;
}
