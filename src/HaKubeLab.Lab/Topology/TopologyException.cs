namespace HaKubeLab.Topology;

/// <summary>One problem with a topology: which field, what is wrong, how to fix it, and where.</summary>
public sealed record TopologyError(string Field, string Problem, string Fix, string? File = null, int? Line = null)
{
    public override string ToString()
    {
        var where = File is null ? "" : Line is null ? $"{File}: " : $"{File}:{Line}: ";
        return $"{where}{Field}: {Problem} Fix: {Fix}";
    }
}

/// <summary>Thrown when a topology is refused; carries every error found, not just the first.</summary>
public sealed class TopologyException(IReadOnlyList<TopologyError> errors)
    : Exception("Invalid lab topology:" + Environment.NewLine + string.Join(Environment.NewLine, errors.Select(e => "  - " + e)))
{
    public IReadOnlyList<TopologyError> Errors { get; } = errors;
}
