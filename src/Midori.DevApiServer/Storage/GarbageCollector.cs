using System.Text.Json.Nodes;

namespace Midori.DevApiServer.Storage;

/// <summary>
/// Background garbage collection of dependents, like kube-controller-manager's GC with background propagation:
/// when an owner is gone for good, dependents with no other live owner are deleted (honouring their finalizers);
/// dependents that still have a live owner just lose the dangling reference.
/// </summary>
public sealed class GarbageCollector(ResourceStore store, ResourceOperations operations)
{
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var ownerUid in store.DeletedUids.ReadAllAsync(cancellationToken))
            {
                lock (store.Sync)
                {
                    CollectDependents(ownerUid);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Server shutdown.
        }
    }

    private void CollectDependents(string ownerUid)
    {
        var dependents = store.All().Where(e => ObjectMeta.OwnerUids(e.Object).Contains(ownerUid)).ToList();
        foreach (var (type, dependent) in dependents)
        {
            var remaining = new JsonArray([.. ((JsonArray)dependent["metadata"]!["ownerReferences"]!)
                .Where(r => (string?)r?["uid"] != ownerUid)
                .Select(r => r?.DeepClone())]);
            if (remaining.Any(r => (string?)r?["uid"] is { } uid && store.UidExists(uid)))
            {
                operations.SetOwnerReferencesLocked(type, dependent, remaining);
            }
            else
            {
                operations.DeleteLocked(type, dependent);
            }
        }
    }
}
