using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Diagnostics;
using Midori.Operator.Kubernetes;
using Midori.Operator.Providers;
using Midori.Operator.Runtime;

namespace Midori.Operator.Controllers;

/// <summary>
/// Deletes every remote sandbox of a PreviewSandbox being deleted: the one status names and any other the provider
/// lists under the owner UID (a crash mid-create can leave one). No ownerReference can do this for a remote sandbox.
/// </summary>
internal sealed class SandboxCleanupFinalizer(
    ISandboxProviderRegistry providers,
    IEventRecorder events,
    ILogger logger,
    ISandboxLifecycleObserver observer) : IEntityFinalizer<V1Alpha1PreviewSandbox>
{
    public string Name => GroupVersion.FinalizerName;

    public async Task<ReconcileResult> FinalizeAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        var providerName = resource.Status?.Provider ?? resource.Spec.Provider ?? providers.DefaultProvider;
        if (providers.TryGet(providerName, out var provider) && provider is not null)
        {
            var ids = new HashSet<string>(StringComparer.Ordinal);
            if (resource.Status?.SandboxId is { } current)
            {
                ids.Add(current);
            }

            try
            {
                foreach (var owned in await provider.ListAsync(resource.Metadata.Uid, cancellationToken))
                {
                    ids.Add(owned.Id);
                }

                foreach (var id in ids)
                {
                    await provider.DeleteAsync(id, cancellationToken);
                    logger.DeletedSandbox(provider.Name, id, "PreviewSandbox deleted");
                }
            }
            catch (Exception ex) when (ex is SandboxProviderException or HttpRequestException)
            {
                logger.DeleteFailed(provider.Name, string.Join(',', ids), ex.Message);
                events.Warning(resource, EventReasons.ProviderError, $"Could not delete the remote sandbox yet: {ex.Message}");
                return ReconcileResult.Failure(ex.Message, ex);
            }

            events.Normal(resource, EventReasons.Deleted, ids.Count == 0 ? "No remote sandbox to delete" : $"Deleted sandbox {string.Join(", ", ids)}");
        }
        else
        {
            logger.UnknownProvider(resource.Status?.Provider ?? resource.Spec.Provider ?? "(default)");
        }

        observer.Deleted(resource);
        return ReconcileResult.Done();
    }
}
