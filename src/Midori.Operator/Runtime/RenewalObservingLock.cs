using k8s.LeaderElection;

namespace Midori.Operator.Runtime;

/// <summary>
/// Wraps the elector's Lease lock so every successful acquisition or renewal by this identity reaches the
/// <see cref="LeadershipFence"/>, anchored at the moment the write was sent (see the fence for why that is the safe end).
/// The validity is computed from the duration actually written to the Lease (whole seconds), which is what other
/// replicas count with.
/// </summary>
internal sealed class RenewalObservingLock(ILock inner, LeadershipFence fence, TimeProvider time, TimeSpan margin) : ILock
{
    public string Identity => inner.Identity;

    public Task<LeaderElectionRecord> GetAsync(CancellationToken cancellationToken = default) => inner.GetAsync(cancellationToken);

    public Task<bool> CreateAsync(LeaderElectionRecord record, CancellationToken cancellationToken = default) =>
        ObserveAsync(record, () => inner.CreateAsync(record, cancellationToken));

    public Task<bool> UpdateAsync(LeaderElectionRecord record, CancellationToken cancellationToken = default) =>
        ObserveAsync(record, () => inner.UpdateAsync(record, cancellationToken));

    public string Describe() => inner.Describe();

    private async Task<bool> ObserveAsync(LeaderElectionRecord record, Func<Task<bool>> write)
    {
        var sentTimestamp = time.GetTimestamp();
        var sentWall = time.GetUtcNow();
        var written = await write().ConfigureAwait(false);
        if (written && string.Equals(record.HolderIdentity, inner.Identity, StringComparison.Ordinal))
        {
            fence.Renewed(sentTimestamp, sentWall, TimeSpan.FromSeconds(record.LeaseDurationSeconds) - margin);
        }

        return written;
    }
}
