using k8s;
using k8s.Models;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Providers;
using Conditions = Midori.Operator.Api.V1Alpha1.PreviewSandboxConditions;
using Reasons = Midori.Operator.Api.V1Alpha1.PreviewSandboxConditions.Reasons;

namespace Midori.Operator.Controllers;

/// <summary>What the files in a running sandbox are, for the FilesInSync condition.</summary>
internal sealed record FilesState(bool InSync, string Reason, string Message)
{
    public static FilesState Synced(string? hash) => new(true, Reasons.InSync, $"Sandbox holds files {hash}");

    public static FilesState Behind(string reason, string message) => new(false, reason, message);
}

/// <summary>
/// The status one reconcile works on: a copy of the stored status, edited by the actions, published only when it differs
/// from what was last written. It owns the conditions and observedGeneration: actions say what happened through the
/// named operations (<see cref="Ready"/>, <see cref="InProgress"/>, <see cref="NotReady"/>, <see cref="RemovalPending"/>),
/// which keep Ready, Progressing and Degraded consistent, mirror them into kstatus' Reconciling/Stalled and stamp each
/// condition with the generation. Other fields (sandbox id, deadlines, files) the actions set on <see cref="Status"/>.
/// </summary>
internal sealed class SandboxStatusBuilder
{
    private readonly TimeProvider _time;
    private string _publishedJson;

    public SandboxStatusBuilder(V1Alpha1PreviewSandbox resource, string providerName, TimeProvider time)
    {
        _time = time;
        _publishedJson = Serialize(resource.Status);
        Resource = resource;
        Status = Clone(resource.Status) ?? new PreviewSandboxStatus();
        Status.Provider ??= providerName; // the schema's default status ({phase: Pending}) names no provider yet
    }

    /// <summary>The object as read or as last published (its metadata and spec are what this pass acts on).</summary>
    public V1Alpha1PreviewSandbox Resource { get; private set; }

    /// <summary>The working status.</summary>
    public PreviewSandboxStatus Status { get; }

    public long Generation => Resource.Metadata.Generation ?? 0;

    public string? Phase => Status.Phase;

    public bool IsReady => ConditionSet.Find(Status.Conditions, Conditions.Ready)?.Status == "True";

    /// <summary>The working status differs from what was last written: publishing it is a real change.</summary>
    public bool Changed => Serialize(Status) != _publishedJson;

    /// <summary>The working status as a resource, for the policies (earlier steps of this pass may have changed it).</summary>
    public V1Alpha1PreviewSandbox View => new() { ApiVersion = Resource.ApiVersion, Kind = Resource.Kind, Metadata = Resource.Metadata, Spec = Resource.Spec, Status = Status };

    /// <summary>Moves to <paramref name="phase"/>; set it before the conditions (Stalled follows phase Failed).</summary>
    public SandboxStatusBuilder To(string phase)
    {
        Status.Phase = phase;
        return this;
    }

    /// <summary>Records that the current generation's spec has been acted on (status.observedGeneration).</summary>
    public SandboxStatusBuilder Observed()
    {
        Status.ObservedGeneration = Generation;
        return this;
    }

    /// <summary>The preview serves. <paramref name="files"/> null: FilesInSync stays as it was.</summary>
    public SandboxStatusBuilder Ready(string message, string? degraded = null, FilesState? files = null) =>
        Set(ready: true, Reasons.SandboxReady, message, progressing: false, degraded, files);

    /// <summary>Not serving, and work is under way (creating, recreating, retrying after a failure).</summary>
    public SandboxStatusBuilder InProgress(string reason, string message, string? degraded = null) =>
        Set(ready: false, reason, message, progressing: true, degraded, files: null);

    /// <summary>Not serving, and nothing is under way until something changes (waiting, ended, refused, failed).</summary>
    public SandboxStatusBuilder NotReady(string reason, string message, string? degraded = null) =>
        Set(ready: false, reason, message, progressing: false, degraded, files: null);

    /// <summary>Removing the sandbox failed and is retried: Ready stays what it was (it may still serve), Degraded says why.</summary>
    public SandboxStatusBuilder RemovalPending(string reason, string error) =>
        Set(IsReady, reason, $"Could not remove the sandbox yet: {error}", progressing: true, degraded: error, files: null);

    /// <summary>ProviderAvailable mirrors <see cref="IProviderHealth"/>; absent when no health source is wired.</summary>
    public SandboxStatusBuilder ProviderAvailability(ProviderHealthState? health)
    {
        if (health is null)
        {
            return this;
        }

        var conditions = Status.Conditions ?? new List<V1Condition>();
        ConditionSet.Set(conditions, Conditions.ProviderAvailable, health.Available, health.Reason, health.Message, Generation, _time.GetUtcNow());
        Status.Conditions = ConditionSet.Ordered(conditions, Conditions.Order);
        return this;
    }

    /// <summary>Adds <paramref name="note"/> to the Ready message (once); false when there is no Ready condition yet.</summary>
    public bool AppendToReady(string note)
    {
        if (ConditionSet.Find(Status.Conditions, Conditions.Ready) is not { } ready)
        {
            return false;
        }

        if (ready.Message?.Contains(note, StringComparison.Ordinal) != true)
        {
            ready.Message = string.IsNullOrEmpty(ready.Message) ? note : $"{ready.Message}. {note}";
        }

        return true;
    }

    /// <summary>The status was written; <paramref name="updated"/> is the object the API server returned.</summary>
    public void Published(V1Alpha1PreviewSandbox updated)
    {
        _publishedJson = Serialize(Status);
        Resource = updated;
    }

    private SandboxStatusBuilder Set(bool ready, string reason, string message, bool progressing, string? degraded, FilesState? files)
    {
        var now = _time.GetUtcNow();
        var conditions = Status.Conditions ?? new List<V1Condition>();
        ConditionSet.Set(conditions, Conditions.Ready, ready, reason, message, Generation, now);
        ConditionSet.Set(conditions, Conditions.Progressing, progressing, progressing ? reason : Reasons.AsExpected,
            progressing ? message : "No change in progress", Generation, now);
        ConditionSet.Set(conditions, Conditions.Degraded, degraded is not null, degraded is null ? Reasons.AsExpected : reason,
            degraded ?? "No problems detected", Generation, now);

        // kstatus (Flux, kpt, cli-utils) reads only Reconciling/Stalled besides observedGeneration: mirror them here.
        SetAbnormalTrue(conditions, Conditions.Reconciling, progressing, reason, message, now);
        SetAbnormalTrue(conditions, Conditions.Stalled, Status.Phase == Phases.Failed, reason, message, now);
        if (files is not null)
        {
            ConditionSet.Set(conditions, Conditions.FilesInSync, files.InSync, files.Reason, files.Message, Generation, now);
        }
        else if (!ready)
        {
            conditions = [.. conditions.Where(c => c.Type != Conditions.FilesInSync)];
        }

        Status.Conditions = ConditionSet.Ordered(conditions, Conditions.Order);
        return this;
    }

    private void SetAbnormalTrue(IList<V1Condition> conditions, string type, bool active, string reason, string message, DateTimeOffset now)
    {
        if (active)
        {
            ConditionSet.Set(conditions, type, true, reason, message, Generation, now);
        }
        else if (ConditionSet.Find(conditions, type) is { } stale)
        {
            conditions.Remove(stale);
        }
    }

    private static string Serialize(PreviewSandboxStatus? status) => status is null ? "null" : KubernetesJson.Serialize(status);

    private static PreviewSandboxStatus? Clone(PreviewSandboxStatus? status) =>
        status is null ? null : KubernetesJson.Deserialize<PreviewSandboxStatus>(KubernetesJson.Serialize(status));
}
