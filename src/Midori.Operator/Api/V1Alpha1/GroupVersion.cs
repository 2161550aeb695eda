namespace Midori.Operator.Api.V1Alpha1;

/// <summary>Names of the PreviewSandbox API. Public contract: clients and manifests depend on them.</summary>
public static class GroupVersion
{
    public const string Group = "preview.midori.dev";
    public const string Version = "v1alpha1";
    public const string ApiVersion = Group + "/" + Version;
    public const string Kind = "PreviewSandbox";
    public const string ListKind = "PreviewSandboxList";
    public const string Plural = "previewsandboxes";
    public const string Singular = "previewsandbox";
    public const string ShortName = "psb";

    /// <summary>Finalizer guarding the remote sandbox, which no ownerReference can clean up.</summary>
    public const string FinalizerName = Group + "/sandbox-cleanup";

    /// <summary>RFC 3339 UTC time of the latest editor activity.</summary>
    public const string HeartbeatAnnotation = Group + "/heartbeat";

    /// <summary>Setting this to a new value replaces the running sandbox (reason <c>manual</c>).</summary>
    public const string RecreateAnnotation = Group + "/recreate";

    /// <summary><see cref="RetentionDelete"/> opts a finished preview in to retention, <see cref="RetentionKeep"/> out (see Controllers/SandboxRetention).</summary>
    public const string RetentionAnnotation = Group + "/retention";
    public const string RetentionDelete = "delete";
    public const string RetentionKeep = "keep";

    /// <summary><c>"false"</c>: requests through the gateway do not count as activity for this preview.</summary>
    public const string TrafficActivityAnnotation = Group + "/traffic-activity";

    /// <summary>
    /// Written by the HTTP API when a direct push failed, or succeeded after the status said the files were behind:
    /// <c>&lt;revision&gt;:&lt;ok|failed&gt;</c>. It only wakes the reconciler, so FilesInSync follows what the sandbox holds.
    /// </summary>
    public const string FilesPushAnnotation = Group + "/files-push";
}
