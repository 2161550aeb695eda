namespace Midori.Operator.Api.V1Alpha1;

/// <summary>
/// Label keys. On remote sandboxes (Daytona labels, E2B metadata, local provider): the owner UID makes create idempotent
/// and lets the finalizer find every sandbox of a resource; the installation scopes the orphan sweep to sandboxes this
/// installation created, so two clusters sharing one provider account never sweep each other's; namespace and name let
/// the sweep re-read the owner. On the PreviewSandbox itself: <see cref="CreatedBy"/>.
/// </summary>
public static class SandboxLabels
{
    public const string OwnerUid = GroupVersion.Group + "/owner-uid";
    public const string Installation = GroupVersion.Group + "/installation";
    public const string Namespace = GroupVersion.Group + "/namespace";
    public const string Name = GroupVersion.Group + "/name";
    public const string Project = GroupVersion.Group + "/project";

    /// <summary>On resources the HTTP API created (value <see cref="CreatedByApi"/>): they fall under retention by default.</summary>
    public const string CreatedBy = GroupVersion.Group + "/created-by";
    public const string CreatedByApi = "api";

    /// <summary>On every warm sandbox: the name of its PreviewSandboxPool (the owner-UID label carries the pool's UID).</summary>
    public const string Pool = GroupVersion.Group + "/pool";

    /// <summary>
    /// On every warm sandbox: a digest of the dev server it booted (the pool's <c>spec.command</c> and <c>spec.port</c>),
    /// so members booted for an earlier spec are replaced; absent on members from before the pool had a command.
    /// </summary>
    public const string PoolStart = GroupVersion.Group + "/pool-start";

    /// <summary>
    /// The operator as the manager (value <see cref="ManagedByOperator"/>): the standard Kubernetes label on the objects it
    /// writes (token Secrets, resources the HTTP API creates), and a marker in a provider's own metadata (E2B), which
    /// lists only sandboxes carrying it.
    /// </summary>
    public const string KubernetesManagedBy = "app.kubernetes.io/managed-by";
    public const string ProviderManagedBy = GroupVersion.Group + "/managed-by";
    public const string ManagedByOperator = "midori-operator";
}
