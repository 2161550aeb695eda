using k8s;
using k8s.Models;
using Midori.Operator.Runtime;

namespace Midori.Operator.Controllers;

/// <summary>
/// Cleanup that must run before a resource goes away (KubeOps' IEntityFinalizer shape). The reconciler adds
/// <see cref="Name"/> to every live object it manages and, once the object is being deleted, calls
/// <see cref="FinalizeAsync"/> and removes the name only when that succeeded.
/// </summary>
internal interface IEntityFinalizer<in TEntity>
    where TEntity : IKubernetesObject<V1ObjectMeta>
{
    /// <summary>The finalizer string in <c>metadata.finalizers</c>.</summary>
    string Name { get; }

    /// <summary>Idempotent: may run again after a failure or a crash. A failure keeps the finalizer (retried with backoff).</summary>
    Task<ReconcileResult> FinalizeAsync(TEntity entity, CancellationToken cancellationToken);
}
