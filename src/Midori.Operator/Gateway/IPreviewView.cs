using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Http.Services;
using Midori.Operator.Persistence;
using Midori.Operator.Runtime;

namespace Midori.Operator.Gateway;

/// <summary>
/// The gateway's read side: the shared view of PreviewSandboxes every replica keeps. Today that is the per-replica
/// list + watch cache; behind this seam it can become another store without touching the proxy.
/// </summary>
public interface IPreviewView
{
    ValueTask<V1Alpha1PreviewSandbox?> GetAsync(PreviewKey key, CancellationToken cancellationToken);

    /// <summary>Waits (bounded) until the object satisfies <paramref name="predicate"/>; returns the last object seen and whether it matched.</summary>
    Task<(V1Alpha1PreviewSandbox? Resource, bool Matched)> WaitForAsync(PreviewKey key, Func<V1Alpha1PreviewSandbox?, bool> predicate, TimeSpan timeout,
        CancellationToken cancellationToken);
}

internal sealed class CachePreviewView(PreviewSandboxCache cache) : IPreviewView
{
    public ValueTask<V1Alpha1PreviewSandbox?> GetAsync(PreviewKey key, CancellationToken cancellationToken) => cache.GetAsync(key, cancellationToken);

    public Task<(V1Alpha1PreviewSandbox? Resource, bool Matched)> WaitForAsync(PreviewKey key, Func<V1Alpha1PreviewSandbox?, bool> predicate, TimeSpan timeout,
        CancellationToken cancellationToken) => cache.WaitForAsync(key, predicate, timeout, cancellationToken);
}
