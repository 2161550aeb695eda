using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Providers;

namespace Midori.Operator.Controllers;

/// <summary>
/// A warm sandbox as the pool controller gathered it. <paramref name="Dirty"/>: its project directory holds files
/// although no preview claims it (a claim whose preview vanished while the operator was down): never handed out again.
/// <paramref name="Outdated"/>: it booted the dev server of an earlier <c>spec.command</c>/<c>spec.port</c>.
/// </summary>
public sealed record WarmMember(string Id, SandboxState State, DateTimeOffset? CreatedAt, DateTimeOffset? EndAt, bool Dirty = false, bool Outdated = false);

/// <summary>Settings of <see cref="PoolPolicy"/> (from <see cref="PoolOptions"/>).</summary>
public sealed record PoolSettings(int MaxParallelCreates, TimeSpan MinRemaining, TimeSpan PendingGrace, int BackoffBaseSeconds, TimeSpan MaxBackoff, TimeSpan Resync);

/// <summary>What one pool pass gathered.</summary>
public sealed record PoolSnapshot(
    int Desired,
    int TtlSeconds,
    IReadOnlyList<WarmMember> Members,
    DateTimeOffset Now,
    int FailedAttempts,
    DateTimeOffset? LastFailure,
    bool ProviderAvailable);

/// <summary>A warm sandbox to remove, with why (broken, dirty, expiring, stuck, surplus).</summary>
public sealed record WarmRemoval(string Id, string Reason);

/// <param name="Create">New warm sandboxes to create (and start) in this pass.</param>
/// <param name="Start">Adopted members still Pending (created before a crash): start their dev server.</param>
/// <param name="Keep">Members that stay: the claimable ones are those Running.</param>
/// <param name="RequeueAfter">When to look again (backoff, the next rotation, or the resync interval).</param>
/// <param name="Outgoing">
/// Running members of an earlier start, claimable (first) but not counted, until enough current ones run: a change of
/// <c>spec.command</c> replaces the members without emptying the pool meanwhile.
/// </param>
public sealed record PoolDecision(
    int Create,
    IReadOnlyList<string> Start,
    IReadOnlyList<WarmRemoval> Remove,
    IReadOnlyList<WarmMember> Keep,
    TimeSpan RequeueAfter,
    string Reason,
    string Message,
    IReadOnlyList<WarmMember>? Outgoing = null);

/// <summary>
/// Pure decisions of the pool controller (gather → decide → act): which warm sandboxes to remove, how many to create,
/// the backoff after failed creations (anchored in the pool's status, so it survives a restart) and the status to report.
/// </summary>
public static class PoolPolicy
{
    public const string Broken = "broken";
    public const string DirtyReason = "dirty";
    public const string Expiring = "expiring";
    public const string OutdatedReason = "outdated";
    public const string Stuck = "stuck";
    public const string Surplus = "surplus";

    public static PoolDecision Decide(PoolSnapshot s, PoolSettings settings)
    {
        var remove = new List<WarmRemoval>();
        var healthy = new List<WarmMember>();
        var outgoing = new List<WarmMember>();
        var minRemaining = MinRemaining(s.TtlSeconds, settings);
        foreach (var member in s.Members)
        {
            string? reason = member switch
            {
                { State: SandboxState.Error or SandboxState.Stopped } => Broken,
                { Dirty: true } => DirtyReason,
                { EndAt: { } end } when end - s.Now < minRemaining => Expiring,
                { State: SandboxState.Pending, CreatedAt: { } born } when s.Now - born > settings.PendingGrace => Stuck,
                { Outdated: true, State: not SandboxState.Running } => OutdatedReason,
                _ => null,
            };
            if (reason is null && member.Outdated)
            {
                outgoing.Add(member);
            }
            else if (reason is null)
            {
                healthy.Add(member);
            }
            else
            {
                remove.Add(new WarmRemoval(member.Id, reason));
            }
        }

        // Scale down: pending ones first (nobody can claim them yet), then those with the least life left.
        var desired = Math.Max(0, s.Desired);
        if (healthy.Count > desired)
        {
            var surplus = healthy
                .OrderBy(m => m.State == SandboxState.Running ? 1 : 0)
                .ThenBy(m => m.EndAt ?? DateTimeOffset.MaxValue)
                .Take(healthy.Count - desired)
                .ToList();
            remove.AddRange(surplus.Select(m => new WarmRemoval(m.Id, Surplus)));
            healthy = [.. healthy.Except(surplus)];
        }

        // Members of an earlier start go once enough current ones run; until then claims take them first.
        if (healthy.Count(m => m.State == SandboxState.Running) >= desired)
        {
            remove.AddRange(outgoing.Select(m => new WarmRemoval(m.Id, OutdatedReason)));
            outgoing.Clear();
        }

        var start = healthy.Where(m => m.State == SandboxState.Pending).Select(m => m.Id).ToList();
        var deficit = desired - healthy.Count;
        var next = NextRotation(healthy, s.Now, minRemaining, settings.Resync);
        if (outgoing.Count > 0)
        {
            next = Min(next, TimeSpan.FromSeconds(1)); // remove them as soon as their replacements run
        }

        if (deficit <= 0)
        {
            return new PoolDecision(0, start, remove, healthy, next, PoolReasons.Filled, $"{healthy.Count} of {desired} warm sandboxes", outgoing);
        }

        if (!s.ProviderAvailable)
        {
            return new PoolDecision(0, start, remove, healthy, Min(next, TimeSpan.FromSeconds(30)), PoolReasons.ProviderUnavailable,
                $"{healthy.Count} of {desired} warm sandboxes; the provider is unavailable", outgoing);
        }

        if (BackoffRemaining(s, settings) is { } wait && wait > TimeSpan.Zero)
        {
            return new PoolDecision(0, start, remove, healthy, Min(next, wait), PoolReasons.BackingOff,
                $"{healthy.Count} of {desired} warm sandboxes; {s.FailedAttempts} failed creations, next attempt in {wait.TotalSeconds:0}s", outgoing);
        }

        var create = Math.Min(deficit, Math.Max(1, settings.MaxParallelCreates));
        // More to create than one pass may start: come back at once for the rest.
        var requeue = create < deficit ? TimeSpan.FromSeconds(1) : next;
        return new PoolDecision(create, start, remove, healthy, requeue, PoolReasons.Filling, $"{healthy.Count} of {desired} warm sandboxes; creating {create}", outgoing);
    }

    /// <summary>Time before the next creation may be tried after consecutive failures; null when not backing off.</summary>
    public static TimeSpan? BackoffRemaining(PoolSnapshot s, PoolSettings settings)
    {
        if (s.FailedAttempts <= 0 || s.LastFailure is not { } last)
        {
            return null;
        }

        var delay = SandboxPolicies.Backoff(s.FailedAttempts + 1, settings.BackoffBaseSeconds, settings.MaxBackoff);
        var remaining = last + delay - s.Now;
        return remaining > TimeSpan.Zero ? remaining : null;
    }

    /// <summary>
    /// The status after acting: <paramref name="created"/> new Running members, <paramref name="failed"/> failed
    /// creations (the failure anchors advance), <paramref name="claimed"/> claims since the last status.
    /// </summary>
    public static PreviewSandboxPoolStatus StatusAfter(
        PoolDecision decision, PreviewSandboxPoolStatus? previous, int desired, int created, int failed, long claimed, DateTimeOffset now, long generation, string selector)
    {
        var replicas = decision.Keep.Count + created;
        var ready = decision.Keep.Count(m => m.State == SandboxState.Running) + decision.Start.Count + created;
        int? failedAttempts = previous?.FailedAttempts;
        DateTime? lastFailure = previous?.LastFailureTime;
        if (failed > 0)
        {
            failedAttempts = (failedAttempts ?? 0) + 1;
            lastFailure = now.UtcDateTime;
        }
        else if (created > 0)
        {
            failedAttempts = null;
            lastFailure = null;
        }

        var (reason, message) = failed > 0
            ? (PoolReasons.BackingOff, $"{ready} of {desired} warm sandboxes; {failed} creations failed")
            : ready >= desired ? (PoolReasons.Filled, $"{ready} of {desired} warm sandboxes ready") : (decision.Reason, decision.Message);
        var condition = new k8s.Models.V1Condition
        {
            Type = PoolGroupVersion.ReadyCondition,
            Status = ready >= desired ? "True" : "False",
            Reason = reason,
            Message = message,
            ObservedGeneration = generation,
            LastTransitionTime = now.UtcDateTime,
        };
        if (previous?.Conditions?.FirstOrDefault(c => c.Type == PoolGroupVersion.ReadyCondition) is { } old && old.Status == condition.Status)
        {
            condition.LastTransitionTime = old.LastTransitionTime; // only a status change moves the transition time
        }

        return new PreviewSandboxPoolStatus
        {
            Replicas = replicas,
            ReadyReplicas = ready,
            Claimed = (previous?.Claimed ?? 0) + claimed,
            Selector = selector,
            FailedAttempts = failedAttempts,
            LastFailureTime = lastFailure,
            ObservedGeneration = generation,
            Conditions = [condition],
        };
    }

    /// <summary>Whether two statuses say the same (status is written only when it changed).</summary>
    public static bool SameStatus(PreviewSandboxPoolStatus? a, PreviewSandboxPoolStatus b) =>
        a is not null
        && a.Replicas == b.Replicas && a.ReadyReplicas == b.ReadyReplicas && (a.Claimed ?? 0) == (b.Claimed ?? 0) && a.Selector == b.Selector
        && a.FailedAttempts == b.FailedAttempts && a.LastFailureTime == b.LastFailureTime && a.ObservedGeneration == b.ObservedGeneration
        && a.Conditions?.FirstOrDefault() is { } ca && b.Conditions?.FirstOrDefault() is { } cb
        && ca.Status == cb.Status && ca.Reason == cb.Reason && ca.Message == cb.Message && ca.ObservedGeneration == cb.ObservedGeneration;

    /// <summary>A warm sandbox is rotated out while it still has this much life: a claim must leave the preview time to start.</summary>
    public static TimeSpan MinRemaining(int ttlSeconds, PoolSettings settings)
    {
        var quarter = TimeSpan.FromSeconds(Math.Max(1, ttlSeconds) / 4.0);
        return quarter < settings.MinRemaining ? quarter : settings.MinRemaining;
    }

    private static TimeSpan NextRotation(IReadOnlyList<WarmMember> healthy, DateTimeOffset now, TimeSpan minRemaining, TimeSpan resync)
    {
        var next = resync;
        foreach (var member in healthy)
        {
            if (member.EndAt is { } end && end - minRemaining - now is var until && until < next)
            {
                next = until < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : until;
            }
        }

        return next;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
