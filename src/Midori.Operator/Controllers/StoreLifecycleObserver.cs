using System.Text.Json.Nodes;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Diagnostics;
using Midori.Operator.Persistence;

namespace Midori.Operator.Controllers;

/// <summary>
/// Turns lifecycle notifications into preview-session transitions and recreation rows. Called inline by the
/// reconciler, so it only builds records and queues them; <see cref="StoreHistoryWriter"/> writes them.
/// </summary>
internal sealed class StoreLifecycleObserver(StoreHistoryQueue queue, TimeProvider time, ILogger<StoreLifecycleObserver> logger) : ISandboxLifecycleObserver
{
    public void Provisioning(V1Alpha1PreviewSandbox resource, bool recreating) =>
        Session(resource, SessionStates.Building, meta: new JsonObject { ["provider"] = resource.Status?.Provider ?? resource.Spec.Provider });

    public void Ready(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status, bool recreated, TimeSpan elapsed) =>
        ReadyAs(resource, status, recreated, elapsed, null);

    /// <summary>The session row says how its sandbox came to run (<see cref="StartKinds"/>); only a recreation adds a recreation row.</summary>
    public void ReadyAs(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status, bool recreated, TimeSpan elapsed, string? kind)
    {
        var startKind = kind ?? (recreated ? StartKinds.Recreate : StartKinds.Create);
        SandboxInfoDocument? info = status.SandboxId is { } id && (status.SandboxUrl ?? status.PreviewUrl) is { } url && status.StartedAt is { } started && status.ExpiresAt is { } ends
            ? new SandboxInfoDocument(id, url, SandboxSnapshot.ToOffset(started), SandboxSnapshot.ToOffset(ends))
            : null;
        Session(resource, SessionStates.Ready, url: status.SandboxUrl ?? status.PreviewUrl, info: info, buildTimeMs: (long)elapsed.TotalMilliseconds,
            meta: new JsonObject { ["sandboxId"] = status.SandboxId, ["provider"] = status.Provider, ["filesRevision"] = status.FilesRevision },
            kind: startKind);

        // A successful recreation is recorded here rather than in RecreationCompleted: only now is the new URL known. A
        // resume brought the same sandbox back: not a recreation, whatever status.lastRecreation still says.
        if (recreated && startKind == StartKinds.Recreate && status.LastRecreation is { } record)
        {
            Recreation(resource, record, oldUrl: resource.Status?.SandboxUrl ?? resource.Status?.PreviewUrl, newUrl: status.SandboxUrl ?? status.PreviewUrl, success: true, error: null, elapsed);
        }
    }

    public void RecreationStarted(V1Alpha1PreviewSandbox resource, string reason, string? oldSandboxId)
    {
    }

    public void RecreationCompleted(V1Alpha1PreviewSandbox resource, RecreationRecord record, bool success, string? error, TimeSpan elapsed)
    {
        if (!success)
        {
            Recreation(resource, record, oldUrl: resource.Status?.SandboxUrl ?? resource.Status?.PreviewUrl, newUrl: null, success: false, error, elapsed);
        }
    }

    public void Expired(V1Alpha1PreviewSandbox resource, string reason, TimeSpan lateness) =>
        Session(resource, SessionStates.Expired, meta: new JsonObject { ["endReason"] = reason });

    public void Ended(V1Alpha1PreviewSandbox resource, string phase, string reason)
    {
        switch (phase)
        {
            case Phases.Failed:
                Session(resource, SessionStates.Failed, error: ConditionMessage(resource) ?? reason, meta: new JsonObject { ["endReason"] = reason });
                break;
            case Phases.Stopped:
                Session(resource, SessionStates.Cancelled, meta: new JsonObject { ["endReason"] = reason });
                break;
            default:
                break; // Expired was recorded by Expired() with its reason.
        }
    }

    public void Deleted(V1Alpha1PreviewSandbox resource) =>
        Session(resource, SessionStates.Cancelled, meta: new JsonObject { ["endReason"] = "Deleted" });

    private void Session(V1Alpha1PreviewSandbox resource, string state, string? url = null, SandboxInfoDocument? info = null, long? buildTimeMs = null,
        string? error = null, JsonObject? meta = null, string? kind = null) =>
        Enqueue(new HistoryRecord.Session(new SessionUpdate(Key(resource), resource.Metadata.Uid ?? string.Empty, resource.Spec.ProjectId, state,
            resource.Spec.Source.SnapshotId, url, info, buildTimeMs, error, meta, kind)));

    private void Recreation(V1Alpha1PreviewSandbox resource, RecreationRecord record, string? oldUrl, string? newUrl, bool success, string? error, TimeSpan elapsed) =>
        Enqueue(new HistoryRecord.Recreation(new RecreationRow(Key(resource), resource.Metadata.Uid ?? string.Empty, record.Reason, record.OldSandboxId,
            record.NewSandboxId, oldUrl, newUrl, success, error, (long)elapsed.TotalMilliseconds, time.GetUtcNow())));

    private void Enqueue(HistoryRecord record)
    {
        if (!queue.TryEnqueue(record))
        {
            logger.HistoryDropped(record.Kind, record.Preview.ToString());
        }
    }

    private static string? ConditionMessage(V1Alpha1PreviewSandbox resource) =>
        ConditionSet.Find(resource.Status?.Conditions, PreviewSandboxConditions.Degraded) is { Status: "True" } degraded ? degraded.Message : null;

    private static PreviewKey Key(V1Alpha1PreviewSandbox resource) => new(resource.Metadata.NamespaceProperty, resource.Metadata.Name);
}
