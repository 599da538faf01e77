using HaKubeLab.Topology;

namespace HaKubeLab.Testing;

/// <summary>
/// What lab a fixture brings up: a topology (or a profile of the runbook's lab), with or without Kubernetes.
/// The lab always gets a unique name and a free subnet (see <see cref="TestLabNaming"/>), so suites running
/// side by side never collide and a user's own lab is never touched.
/// </summary>
public sealed record LabOptions
{
    /// <summary>The topology to start (its name and subnet are replaced); default: the runbook's lab in <see cref="Profile"/>.</summary>
    public LabTopology? Topology { get; init; }

    /// <summary>How the runbook's files are rendered when <see cref="Topology"/> is not given.</summary>
    public RenderProfile Profile { get; init; } = RenderProfile.Seed;

    /// <summary>Run the project's kubeadm bootstrap after the containers are up (about 3 GiB and a few minutes more).</summary>
    public bool Kubernetes { get; init; }

    /// <summary>A short word in the lab's name, so <c>docker ps</c> shows whose lab it is.</summary>
    public string Purpose { get; init; } = "lab";

    /// <summary>How long the whole bring-up may take before it is abandoned and removed.</summary>
    public TimeSpan StartupTimeout { get; init; } = TimeSpan.FromMinutes(12);

    /// <summary>The runbook's lab as its seed renders it: every defect included.</summary>
    public static LabOptions Seed { get; } = new() { Purpose = "seed" };

    /// <summary>The runbook's lab with kubeadm's HA guidance applied.</summary>
    public static LabOptions Recommended { get; } = new() { Profile = RenderProfile.Recommended, Purpose = "rec" };

    /// <summary>The runbook's lab in profile <paramref name="profile"/> (<c>seed</c>, <c>recommended</c> or <c>fast</c>).</summary>
    /// <exception cref="ArgumentException">Unknown profile; the message lists the known ones.</exception>
    public static LabOptions FromProfile(string profile, bool kubernetes = false)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(profile);
        var parsed = profile.Trim().ToLowerInvariant() switch
        {
            "seed" => RenderProfile.Seed,
            "recommended" => RenderProfile.Recommended,
            "fast" => RenderProfile.Fast,
            _ => throw new ArgumentException($"profile: '{profile}' is not a profile. Fix: use 'seed', 'recommended' or 'fast'.", nameof(profile)),
        };
        return new LabOptions { Profile = parsed, Kubernetes = kubernetes, Purpose = (kubernetes ? "k8s-" : "") + parsed switch { RenderProfile.Seed => "seed", RenderProfile.Fast => "fast", _ => "rec" } };
    }

    /// <summary>A topology of your own (validated; its name and subnet are replaced by a free pair).</summary>
    public static LabOptions FromTopology(LabTopology topology, bool kubernetes = false)
    {
        ArgumentNullException.ThrowIfNull(topology);
        return new LabOptions { Topology = TopologyValidator.EnsureValid(topology), Profile = topology.Profile, Kubernetes = kubernetes, Purpose = kubernetes ? "k8s" : "topo" };
    }

    /// <summary>A topology file (YAML, as <c>up --topology</c> reads it).</summary>
    public static LabOptions FromTopologyFile(string path, bool kubernetes = false) => FromTopology(TopologyLoader.LoadFile(path), kubernetes);

    /// <summary>The topology to relocate: <see cref="Topology"/> or the runbook's lab in <see cref="Profile"/>.</summary>
    public LabTopology BaseTopology() => Topology ?? LabTopology.Default.WithProfile(Profile);
}
