using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using HaKubeLab.Rendering;
using HaKubeLab.Topology;

namespace HaKubeLab.Runtime;

/// <summary>A lab's record is missing, damaged or from another format; the message says what to do.</summary>
public sealed class LabRecordException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>No lab of that name exists (no record, no labelled Docker object).</summary>
public sealed class LabNotFoundException(string message) : Exception(message);

/// <summary>
/// What <c>up</c> made, recorded once in the lab's state folder (<c>lab.json</c>, written atomically): the resolved
/// topology (defaults and profile applied), the images actually used, whether Kubernetes runs, the versions and
/// where the lab's files and secrets live. <see cref="RunningLab"/> opens a lab by name from it, so no consumer
/// has to be given the topology again or guess from labels and files.
/// </summary>
public sealed record LabRecord
{
    /// <summary>The record format this code reads and writes; a record of another format is refused with a clear message.</summary>
    public const int CurrentFormat = 1;

    public int Format { get; init; } = CurrentFormat;

    /// <summary>The lab's name (also its Docker label value <c>io.hakubelab.lab</c>).</summary>
    public required string Name { get; init; }

    /// <summary>The topology the lab was brought up from, after defaults and the profile.</summary>
    public required LabTopology Topology { get; init; }

    /// <summary>The image references the containers were created from.</summary>
    public required LabImageSet Images { get; init; }

    /// <summary>Whether <c>up</c> runs the kubeadm bootstrap on this lab (false: load-balancer tier only).</summary>
    public required bool Kubernetes { get; init; }

    /// <summary>When the bootstrap last finished (the API answered through the VIP); null before that.</summary>
    public DateTimeOffset? KubernetesReadyAt { get; init; }

    /// <summary>The versions the lab runs (Kubernetes, etcd) as the kubeadm config names them.</summary>
    public required KubernetesBuild Versions { get; init; }

    /// <summary>The lab's host folder: runbook files per node, secrets, kubeconfig, this record.</summary>
    public required string StateDir { get; init; }

    public DateTimeOffset CreatedAt { get; init; } = DateTimeOffset.UtcNow;
    public DateTimeOffset UpdatedAt { get; init; } = DateTimeOffset.UtcNow;

    /// <summary>Which HaKubeLab wrote it (assembly informational version).</summary>
    public string WrittenBy { get; init; } = ToolVersion();

    [JsonIgnore] public string RecordPath => Path.Combine(StateDir, FileName);
    [JsonIgnore] public string SecretsDir => Path.Combine(StateDir, "secrets");
    [JsonIgnore] public string SshKeyPath => Path.Combine(SecretsDir, "id_rsa");
    [JsonIgnore] public string KubeconfigPath => Path.Combine(StateDir, "kubeconfig");
    [JsonIgnore] public string Interface => Topology.Keepalived.Interface;
    [JsonIgnore] public int LoadBalancerPort => Topology.LoadBalancer.Port;
    [JsonIgnore] public int ApiServerPort => Topology.Kubernetes.ApiServerPort;

    public const string FileName = "lab.json";

    /// <summary>A new record for a lab about to be brought up from <paramref name="topology"/> with <paramref name="images"/>.</summary>
    public static LabRecord For(LabTopology topology, LabImageSet images, bool kubernetes)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(images);
        return new LabRecord
        {
            Name = topology.Name,
            Topology = topology,
            Images = images,
            Kubernetes = kubernetes,
            Versions = images.Versions,
            StateDir = LabPaths.LabDir(topology.Name),
        };
    }

    /// <summary>Writes the record to <see cref="RecordPath"/> atomically (a reader never sees half of it).</summary>
    public LabRecord Write()
    {
        var record = this with { UpdatedAt = DateTimeOffset.UtcNow };
        LabPaths.WriteAtomically(record.RecordPath, ToJson(record));
        return record;
    }

    public static string ToJson(LabRecord record) => JsonSerializer.Serialize(record, Json);

    /// <summary>Parses a record; throws <see cref="LabRecordException"/> naming <paramref name="source"/> when it is damaged or of another format.</summary>
    public static LabRecord FromJson(string json, string source)
    {
        ArgumentNullException.ThrowIfNull(json);
        int format;
        try
        {
            using var doc = JsonDocument.Parse(json);
            format = doc.RootElement.TryGetProperty("format", out var f) && f.TryGetInt32(out var v) ? v : 0;
        }
        catch (JsonException e)
        {
            throw new LabRecordException($"The lab record {source} is damaged ({e.Message}). Remove the lab with './hakubelab down --lab NAME' (it finds everything by label) and bring it up again.", e);
        }
        if (format > CurrentFormat)
            throw new LabRecordException($"The lab record {source} has format {format}, newer than this HaKubeLab understands ({CurrentFormat}). Use the HaKubeLab that made the lab, or remove it with 'down' and bring it up again.");
        if (format < CurrentFormat)
            throw new LabRecordException($"The lab record {source} has format {format}, older than this HaKubeLab reads ({CurrentFormat}). Bring the lab up again with './hakubelab up' (idempotent) to rewrite it, or remove it with 'down'.");
        try
        {
            var record = JsonSerializer.Deserialize<LabRecord>(json, Json) ?? throw new JsonException("empty document");
            TopologyValidator.EnsureValid(record.Topology);
            return record;
        }
        catch (Exception e) when (e is JsonException or TopologyException or NotSupportedException or InvalidOperationException)
        {
            throw new LabRecordException($"The lab record {source} is damaged ({e.Message}). Remove the lab with './hakubelab down --lab NAME' (it finds everything by label) and bring it up again.", e);
        }
    }

    /// <summary>Reads lab <paramref name="lab"/>'s record from its state folder; null when there is none.</summary>
    public static LabRecord? TryRead(string lab, string? path = null)
    {
        path ??= Path.Combine(LabPaths.LabDir(lab), FileName);
        if (!File.Exists(path)) return null;
        return FromJson(File.ReadAllText(path), path);
    }

    /// <summary>Like <see cref="TryRead"/>, but a damaged or foreign record counts as none (up rewrites it).</summary>
    public static LabRecord? TryReadOrNull(string lab)
    {
        try { return TryRead(lab); }
        catch (LabRecordException) { return null; }
    }

    private static string ToolVersion() =>
        typeof(LabRecord).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion ?? "unknown";

    internal static JsonSerializerOptions Json => LabRecordJson.Options;
}

/// <summary>The JSON form of lab records and topologies (IP addresses and CIDRs as strings, enums in kebab case).</summary>
public static class LabRecordJson
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        RespectRequiredConstructorParameters = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower), new IpAddressConverter(), new IpNetworkConverter() },
    };
    static LabRecordJson() => Options.MakeReadOnly(populateMissingResolver: true);

    private sealed class IpAddressConverter : JsonConverter<IPAddress>
    {
        public override IPAddress Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            IPAddress.TryParse(reader.GetString(), out var a) ? a : throw new JsonException($"'{reader.GetString()}' is not an IP address");
        public override void Write(Utf8JsonWriter writer, IPAddress value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
    }

    private sealed class IpNetworkConverter : JsonConverter<IPNetwork>
    {
        public override IPNetwork Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            IPNetwork.TryParse(reader.GetString(), out var n) ? n : throw new JsonException($"'{reader.GetString()}' is not a CIDR");
        public override void Write(Utf8JsonWriter writer, IPNetwork value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
    }
}
