namespace Midori.Operator.Http.Auth;

/// <summary>Claim names of API callers.</summary>
public static class ApiClaims
{
    public const string Scheme = "MidoriBearer";

    /// <summary>A namespace a static token may use ("*" = all).</summary>
    public const string Namespace = "midori:namespace";

    /// <summary>Set for callers authenticated by Kubernetes TokenReview: namespaces are decided by SubjectAccessReview.</summary>
    public const string KubernetesUser = "midori:kubernetes-user";

    public const string KubernetesUid = "midori:kubernetes-uid";

    public const string KubernetesGroup = "midori:kubernetes-group";
}
