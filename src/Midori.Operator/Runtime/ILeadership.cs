namespace Midori.Operator.Runtime;

/// <summary>Seam over leader election so the runtime and its tests never touch LeaderElector directly.</summary>
public interface ILeadership
{
    bool IsLeader { get; }

    /// <summary>Raised with a token cancelled when leadership is lost; work started under it must stop.</summary>
    event Action<CancellationToken>? StartedLeading;

    event Action? StoppedLeading;
}
