using System.Collections.Frozen;

namespace HaKubeLab.Lint.Rules;

/// <summary>
/// The fields kubeadm and the kubelet know per kind (kubeadm.k8s.io/v1beta2 and v1beta3,
/// kubelet.config.k8s.io/v1beta1 as of Kubernetes 1.20-1.25), for the unknown-field rule. A nested
/// map is checked when its path is listed; everything else is left alone.
/// </summary>
internal static class KubeadmSchema
{
    public static readonly FrozenSet<string> KubeadmApiVersions = FrozenSet.ToFrozenSet(["kubeadm.k8s.io/v1beta1", "kubeadm.k8s.io/v1beta2", "kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4"]);

    /// <summary>Kinds per apiVersion group.</summary>
    public static readonly FrozenDictionary<string, string[]> Kinds = new Dictionary<string, string[]>
    {
        ["kubeadm.k8s.io"] = ["ClusterConfiguration", "InitConfiguration", "JoinConfiguration", "ClusterStatus", "ResetConfiguration", "UpgradeConfiguration"],
        ["kubelet.config.k8s.io"] = ["KubeletConfiguration"],
        ["kubeproxy.config.k8s.io"] = ["KubeProxyConfiguration"],
    }.ToFrozenDictionary();

    private static readonly string[] ControlPlaneComponent = ["extraArgs", "extraVolumes", "extraEnvs"];

    /// <summary>Known fields: key "Kind" for the top level, "Kind.path.to.map" for nested maps.</summary>
    public static readonly FrozenDictionary<string, FrozenSet<string>> Fields = new Dictionary<string, string[]>
    {
        ["ClusterConfiguration"] = ["apiVersion", "kind", "etcd", "networking", "kubernetesVersion", "controlPlaneEndpoint", "apiServer", "controllerManager", "scheduler", "dns", "certificatesDir", "imageRepository", "useHyperKubeImage", "featureGates", "clusterName", "encryptionAlgorithm", "proxy", "certificateValidityPeriod", "caCertificateValidityPeriod"],
        ["ClusterConfiguration.networking"] = ["serviceSubnet", "podSubnet", "dnsDomain"],
        ["ClusterConfiguration.etcd"] = ["local", "external"],
        ["ClusterConfiguration.etcd.local"] = ["imageRepository", "imageTag", "dataDir", "extraArgs", "extraEnvs", "serverCertSANs", "peerCertSANs"],
        ["ClusterConfiguration.etcd.external"] = ["endpoints", "caFile", "certFile", "keyFile"],
        ["ClusterConfiguration.apiServer"] = [.. ControlPlaneComponent, "certSANs", "timeoutForControlPlane"],
        ["ClusterConfiguration.controllerManager"] = ControlPlaneComponent,
        ["ClusterConfiguration.scheduler"] = ControlPlaneComponent,
        ["ClusterConfiguration.dns"] = ["type", "imageRepository", "imageTag", "disabled"],
        ["InitConfiguration"] = ["apiVersion", "kind", "bootstrapTokens", "nodeRegistration", "localAPIEndpoint", "certificateKey", "skipPhases", "patches", "dryRun", "timeouts"],
        ["InitConfiguration.localAPIEndpoint"] = ["advertiseAddress", "bindPort"],
        ["InitConfiguration.nodeRegistration"] = ["name", "criSocket", "taints", "kubeletExtraArgs", "ignorePreflightErrors", "imagePullPolicy", "imagePullSerial"],
        ["JoinConfiguration"] = ["apiVersion", "kind", "nodeRegistration", "caCertPath", "discovery", "controlPlane", "skipPhases", "patches", "dryRun", "timeouts"],
        ["JoinConfiguration.nodeRegistration"] = ["name", "criSocket", "taints", "kubeletExtraArgs", "ignorePreflightErrors", "imagePullPolicy", "imagePullSerial"],
        ["JoinConfiguration.controlPlane"] = ["localAPIEndpoint", "certificateKey"],
        ["KubeletConfiguration"] =
        [
            "apiVersion", "kind", "enableServer", "staticPodPath", "syncFrequency", "fileCheckFrequency", "httpCheckFrequency", "staticPodURL", "staticPodURLHeader",
            "address", "port", "readOnlyPort", "tlsCertFile", "tlsPrivateKeyFile", "tlsCipherSuites", "tlsMinVersion", "rotateCertificates", "serverTLSBootstrap",
            "authentication", "authorization", "registryPullQPS", "registryBurst", "eventRecordQPS", "eventBurst", "enableDebuggingHandlers", "enableContentionProfiling",
            "healthzPort", "healthzBindAddress", "oomScoreAdj", "clusterDomain", "clusterDNS", "streamingConnectionIdleTimeout", "nodeStatusUpdateFrequency",
            "nodeStatusReportFrequency", "nodeLeaseDurationSeconds", "imageMinimumGCAge", "imageGCHighThresholdPercent", "imageGCLowThresholdPercent",
            "volumeStatsAggPeriod", "kubeletCgroups", "systemCgroups", "cgroupRoot", "cgroupsPerQOS", "cgroupDriver", "cpuManagerPolicy", "cpuManagerPolicyOptions",
            "cpuManagerReconcilePeriod", "memoryManagerPolicy", "topologyManagerPolicy", "topologyManagerScope", "topologyManagerPolicyOptions", "qosReserved",
            "runtimeRequestTimeout", "hairpinMode", "maxPods", "podCIDR", "podPidsLimit", "resolvConf", "runOnce", "cpuCFSQuota", "cpuCFSQuotaPeriod",
            "nodeStatusMaxImages", "maxOpenFiles", "contentType", "kubeAPIQPS", "kubeAPIBurst", "serializeImagePulls", "maxParallelImagePulls", "evictionHard",
            "evictionSoft", "evictionSoftGracePeriod", "evictionPressureTransitionPeriod", "evictionMaxPodGracePeriod", "evictionMinimumReclaim", "podsPerCore",
            "enableControllerAttachDetach", "protectKernelDefaults", "makeIPTablesUtilChains", "iptablesMasqueradeBit", "iptablesDropBit", "featureGates",
            "failSwapOn", "memorySwap", "containerLogMaxSize", "containerLogMaxFiles", "containerLogMaxWorkers", "containerLogMonitorInterval",
            "configMapAndSecretChangeDetectionStrategy", "systemReserved", "kubeReserved", "reservedSystemCPUs", "showHiddenMetricsForVersion",
            "systemReservedCgroup", "kubeReservedCgroup", "enforceNodeAllocatable", "allowedUnsafeSysctls", "volumePluginDir", "providerID",
            "kernelMemcgNotification", "logging", "enableSystemLogHandler", "enableSystemLogQuery", "shutdownGracePeriod", "shutdownGracePeriodCriticalPods",
            "shutdownGracePeriodByPodPriority", "reservedMemory", "enableProfilingHandler", "enableDebugFlagsHandler", "seccompDefault", "memoryThrottlingFactor",
            "registerWithTaints", "registerNode", "tracing", "localStorageCapacityIsolation", "containerRuntimeEndpoint", "imageServiceEndpoint",
            "failCgroupV1", "singleProcessOOMKill", "crashLoopBackOff", "imageMaximumGCAge", "podLogsDir", "mergeDefaultEvictionSettings",
        ],
    }.ToFrozenDictionary(kv => kv.Key, kv => kv.Value.ToFrozenSet());

    /// <summary>Where a field that is unknown in one kind belongs instead, for the fix.</summary>
    public static readonly FrozenDictionary<string, string> BelongsTo = new Dictionary<string, string>
    {
        ["cgroupDriver"] = "KubeletConfiguration (apiVersion: kubelet.config.k8s.io/v1beta1), a separate document after '---'",
        ["failSwapOn"] = "KubeletConfiguration (apiVersion: kubelet.config.k8s.io/v1beta1), a separate document after '---'",
        ["clusterDNS"] = "KubeletConfiguration (apiVersion: kubelet.config.k8s.io/v1beta1), a separate document after '---'",
        ["podSubnet"] = "ClusterConfiguration's networking map",
        ["serviceSubnet"] = "ClusterConfiguration's networking map",
        ["dnsDomain"] = "ClusterConfiguration's networking map",
        ["advertiseAddress"] = "InitConfiguration's localAPIEndpoint map",
        ["bindPort"] = "InitConfiguration's localAPIEndpoint map",
        ["criSocket"] = "InitConfiguration's (or JoinConfiguration's) nodeRegistration map",
        ["certSANs"] = "ClusterConfiguration's apiServer map",
        ["mode"] = "KubeProxyConfiguration (apiVersion: kubeproxy.config.k8s.io/v1alpha1)",
    }.ToFrozenDictionary();
}
