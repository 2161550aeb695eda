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
}
