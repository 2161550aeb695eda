using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Options;

namespace Midori.Operator.Controllers;

/// <summary>How long finished previews are kept before the resource is deleted (null on <see cref="PolicySettings"/>: never).</summary>
public sealed record RetentionSettings(TimeSpan StoppedOrFailedFor, TimeSpan ExpiredFor);

internal static class RetentionSettingsExtensions
{
    /// <summary>The retention the policies apply; null when switched off.</summary>
    public static RetentionSettings? Retention(this OperatorOptions options) =>
        options.RetentionEnabled ? new(options.RetainStoppedOrFailedFor, options.RetainExpiredFor) : null;
}

/// <summary>
/// Retention of finished previews, decided level-based from status so a restart or a missed event changes nothing: a preview that has sat in <c>Stopped</c> or
/// <c>Failed</c> for <see cref="RetentionSettings.StoppedOrFailedFor"/> (2 h) or in <c>Expired</c> for
/// <see cref="RetentionSettings.ExpiredFor"/> (24 h), measured from the durable anchor <c>status.endedAt</c>, is
/// deleted — but only when it was created through the API (label <c>preview.midori.dev/created-by=api</c>) or opts in
/// with the annotation <c>preview.midori.dev/retention: delete</c>. Resources applied by hand or by GitOps are never
/// deleted otherwise (their owner would recreate them, and deleting what someone declared is not ours to do);
/// <c>retention: keep</c> exempts an API-created one. Deleting goes through the finalizer, and session history
/// stays in the store.
/// </summary>
public static class SandboxRetention
{
    public static bool IsEligible(V1Alpha1PreviewSandbox resource)
    {
        var choice = resource.Metadata.Annotations?.TryGetValue(GroupVersion.RetentionAnnotation, out var value) == true ? value?.Trim() : null;
        if (string.Equals(choice, GroupVersion.RetentionKeep, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return string.Equals(choice, GroupVersion.RetentionDelete, StringComparison.OrdinalIgnoreCase)
            || (resource.Metadata.Labels?.TryGetValue(SandboxLabels.CreatedBy, out var createdBy) == true && createdBy == SandboxLabels.CreatedByApi);
    }

    /// <summary>
    /// When the finished preview is due for deletion; null when it is not finished, not eligible, or retention is off.
    /// The anchor is <c>status.endedAt</c> (a preview that never ran, e.g. created suspended, counts from its creation).
    /// </summary>
    public static DateTimeOffset? DeleteAt(SandboxSnapshot snapshot, RetentionSettings? settings) =>
        DeleteAt(snapshot.Resource, snapshot.Phase, snapshot.EndedAt, settings);

    /// <inheritdoc cref="DeleteAt(SandboxSnapshot, RetentionSettings?)"/>
    public static DateTimeOffset? DeleteAt(V1Alpha1PreviewSandbox resource, string? phase, DateTimeOffset? endedAt, RetentionSettings? settings)
    {
        if (settings is null || !IsEligible(resource))
        {
            return null;
        }

        var keepFor = phase switch
        {
            Phases.Stopped or Phases.Failed => settings.StoppedOrFailedFor,
            Phases.Expired => settings.ExpiredFor,
            _ => (TimeSpan?)null,
        };
        var anchor = endedAt ?? (resource.Metadata.CreationTimestamp is { } created ? SandboxSnapshot.ToOffset(created) : (DateTimeOffset?)null);
        return keepFor is { } span && anchor is { } start ? start + span : null;
    }

    /// <summary>
    /// Applied to the chain's verdict: retention only ever acts on a preview the chain leaves waiting (so a wake-up,
    /// a resume, a spec change or a recreate request always wins), turning the wait into a deletion once due, or
    /// else making sure the reconciler comes back at the deadline.
    /// </summary>
    public static PolicyVerdict Apply(SandboxSnapshot snapshot, RetentionSettings? settings, PolicyVerdict verdict)
    {
        if (verdict.Action != SandboxAction.Wait || DeleteAt(snapshot, settings) is not { } due)
        {
            return verdict;
        }

        if (snapshot.Now >= due)
        {
            return new PolicyVerdict(SandboxAction.Delete, EventReasons.RetentionElapsed,
                $"Preview has been {snapshot.Phase} past its retention (due {due:O}); deleting the resource");
        }

        return verdict.NotBefore is { } sooner && sooner <= due ? verdict : verdict with { NotBefore = due };
    }
}
