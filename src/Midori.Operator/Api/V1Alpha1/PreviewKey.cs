namespace Midori.Operator.Api.V1Alpha1;

/// <summary>
/// A preview, identified like its PreviewSandbox resource: <c>namespace/name</c>. The one key of the reconcile queue,
/// the informer's cache and the store.
/// </summary>
public readonly record struct PreviewKey(string Namespace, string Name)
{
    public override string ToString() => $"{Namespace}/{Name}";
}
