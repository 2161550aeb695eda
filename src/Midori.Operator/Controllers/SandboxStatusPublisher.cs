using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Kubernetes;
using Midori.Operator.Runtime;
using Conditions = Midori.Operator.Api.V1Alpha1.PreviewSandboxConditions;

namespace Midori.Operator.Controllers;

/// <summary>
/// The publish step of a pass: the preview's addresses, the status the <see cref="SandboxStatusBuilder"/> built
/// (written only when it changed, and written through to the informer's store so the next pass starts from it), and
/// what the resource's own annotations got wrong.
/// </summary>
internal sealed class SandboxStatusPublisher(
    IPreviewSandboxClient client,
    IEventRecorder events,
    IPreviewAddress? addresses,
    IPreviewSandboxLookup? lookup)
{
    public async Task PublishAsync(SandboxStatusBuilder pass, CancellationToken cancellationToken)
    {
        await PublishAddressAsync(pass, cancellationToken);
        if (!pass.Changed)
        {
            return;
        }

        var updated = await client.PatchStatusAsync(pass.Resource, pass.Status, cancellationToken);
        lookup?.Observe(updated);
        pass.Published(updated);
    }

    /// <summary>
    /// A heartbeat value that is not a time is ignored; say so on the resource, where its sender looks: in the Ready
    /// message (kept while the value stays) and once as a Warning Event (the published message is the memory).
    /// </summary>
    public void ReportInvalidHeartbeat(SandboxStatusBuilder pass, V1Alpha1PreviewSandbox before)
    {
        if (Heartbeat.Raw(pass.Resource) is not { } raw || Heartbeat.TryParse(raw, out _))
        {
            return;
        }

        var shown = raw.Length > 64 ? raw[..64] + "…" : raw;
        var note = $"Ignored {GroupVersion.HeartbeatAnnotation}=\"{shown}\": not an RFC 3339 time (e.g. 2026-11-23T10:00:00Z)";
        if (pass.AppendToReady(note) && ConditionSet.Find(before.Status?.Conditions, Conditions.Ready)?.Message?.Contains(note, StringComparison.Ordinal) != true)
        {
            events.Warning(pass.Resource, EventReasons.InvalidHeartbeat, note);
        }
    }

    /// <summary>
    /// previewUrl is the gateway's stable address for the resource's whole life; the provider's own URL is sandboxUrl.
    /// Without a gateway (none registered, or it returns null) previewUrl is the provider's URL. A status written before
    /// sandboxUrl existed held the provider's URL in previewUrl: it moves over once.
    /// </summary>
    private async Task PublishAddressAsync(SandboxStatusBuilder pass, CancellationToken cancellationToken)
    {
        var status = pass.Status;
        var stable = addresses is null ? null : await addresses.StableUrlAsync(pass.Resource, cancellationToken);
        if (stable is null)
        {
            status.PreviewUrl = status.SandboxUrl;
            return;
        }

        if (status.SandboxUrl is null && status.SandboxId is not null && status.PreviewUrl is { } old && old != stable)
        {
            status.SandboxUrl = old;
        }

        status.PreviewUrl = stable;
    }
}
