namespace Midori.Operator.Runtime;

/// <summary>
/// Whether this replica may act as leader right now: held only while the last successful Lease renewal is younger
/// than the validity the elector derives from the Lease (see <see cref="LeadershipFence"/>). Every provider write and
/// every API-server write the reconciler side performs passes <see cref="EnsureHeld"/> at the moment of acting
/// (<see cref="FencedPreviewSandboxClient"/>, <see cref="FencedSandboxProvider"/>, the event sender).
/// </summary>
public interface ILeadershipFence
{
    bool IsHeld { get; }

    /// <summary>Throws <see cref="LeadershipLapsedException"/> unless the fence is held; a lapse found here is reported at once.</summary>
    void EnsureHeld(string action);
}

/// <summary>
/// A leader-only write was refused because the fence had lapsed. An <see cref="OperationCanceledException"/>: the
/// reconcile stops where it is and its key is dropped; the next leader relists everything.
/// </summary>
public sealed class LeadershipLapsedException(string action)
    : OperationCanceledException($"Leadership fence lapsed: refused to {action}; the last Lease renewal is too old or leadership was lost")
{
    public string Action { get; } = action;
}
