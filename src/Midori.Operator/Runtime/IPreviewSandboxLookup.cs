using System.Diagnostics.CodeAnalysis;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Runtime;

/// <summary>
/// The latest copy of a PreviewSandbox this replica knows (the informer's store plus its own writes), so a reconcile
/// starts without a GET. A miss (not synced yet, or not known) means: read from the API server. Objects are shared:
/// never mutate them.
/// </summary>
public interface IPreviewSandboxLookup
{
    bool TryGet(PreviewKey key, [NotNullWhen(true)] out V1Alpha1PreviewSandbox? resource);

    /// <summary>
    /// Write-through of an object this replica just wrote (the API server's reply), so the next reconcile does not act
    /// on the copy before it; ignored when the store already holds a newer one.
    /// </summary>
    void Observe(V1Alpha1PreviewSandbox written);
}
