namespace HaKubeLab.Chaos;

/// <summary>The chaos runner lives here (faults, probes, scenarios). Filled by the chaos issue.</summary>
internal static class ChaosAssembly;
