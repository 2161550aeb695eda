using System.Diagnostics.CodeAnalysis;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Persistence;

namespace Midori.Operator.Runtime;

/// <summary>
/// The reconciler's view of the shared <see cref="PreviewSandboxCache"/>: the informer puts an object there before it
/// enqueues its key, so a reconcile reads at least what triggered it. Before the first list: a miss (the caller GETs).
/// </summary>
public sealed class PreviewSandboxCacheLookup(PreviewSandboxCache cache) : IPreviewSandboxLookup
{
    public bool TryGet(PreviewKey key, [NotNullWhen(true)] out V1Alpha1PreviewSandbox? resource)
    {
        resource = null;
        return cache.IsSynced && cache.TryGet(new PreviewKey(key.Namespace, key.Name), out resource);
    }

    public void Observe(V1Alpha1PreviewSandbox written) => cache.Observe(written);
}
