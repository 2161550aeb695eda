using System.Security.Claims;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Http.Auth;

public sealed record TokenReviewResult(bool Authenticated, string? UserName, string? Uid, IReadOnlyList<string> Groups);

/// <summary>Kubernetes TokenReview + SubjectAccessReview (seam so tests need no RBAC-enforcing API server).</summary>
public interface IKubernetesAccessReviewer
{
    Task<TokenReviewResult> ReviewTokenAsync(string token, CancellationToken cancellationToken);

    /// <summary>May <paramref name="user"/> do <paramref name="verb"/> on previewsandboxes in <paramref name="namespace"/>?</summary>
    Task<bool> CanAccessAsync(string user, string? uid, IReadOnlyList<string> groups, string @namespace, string verb, CancellationToken cancellationToken);
}

/// <summary>
/// Over the API server: <c>create tokenreviews.authentication.k8s.io</c> and
/// <c>create subjectaccessreviews.authorization.k8s.io</c> (the operator's ServiceAccount needs both verbs).
/// </summary>
public sealed class KubernetesAccessReviewer(IKubernetes kubernetes, ILogger<KubernetesAccessReviewer> logger) : IKubernetesAccessReviewer
{
    public async Task<TokenReviewResult> ReviewTokenAsync(string token, CancellationToken cancellationToken)
    {
        try
        {
            var review = await kubernetes.AuthenticationV1.CreateTokenReviewAsync(
                new V1TokenReview { Spec = new V1TokenReviewSpec { Token = token } }, cancellationToken: cancellationToken).ConfigureAwait(false);
            var status = review.Status;
            return new TokenReviewResult(status?.Authenticated == true, status?.User?.Username, status?.User?.Uid, [.. status?.User?.Groups ?? []]);
        }
        catch (Exception ex) when (ex is k8s.Autorest.HttpOperationException or HttpRequestException)
        {
            logger.KubernetesReviewFailed(ex);
            return new TokenReviewResult(false, null, null, []);
        }
    }

    public async Task<bool> CanAccessAsync(string user, string? uid, IReadOnlyList<string> groups, string @namespace, string verb, CancellationToken cancellationToken)
    {
        try
        {
            var review = await kubernetes.AuthorizationV1.CreateSubjectAccessReviewAsync(new V1SubjectAccessReview
            {
                Spec = new V1SubjectAccessReviewSpec
                {
                    User = user,
                    Uid = uid,
                    Groups = [.. groups],
                    ResourceAttributes = new V1ResourceAttributes
                    {
                        Group = GroupVersion.Group,
                        Resource = GroupVersion.Plural,
                        NamespaceProperty = @namespace,
                        Verb = verb,
                    },
                },
            }, cancellationToken: cancellationToken).ConfigureAwait(false);
            return review.Status?.Allowed == true;
        }
        catch (Exception ex) when (ex is k8s.Autorest.HttpOperationException or HttpRequestException)
        {
            logger.KubernetesReviewFailed(ex);
            return false;
        }
    }
}

/// <summary>Decides whether the authenticated caller may use a namespace with a verb (get, create, update, delete).</summary>
public sealed class NamespaceAccess(IKubernetesAccessReviewer reviewer, ReviewCache cache, IOptionsMonitor<HttpApiOptions> options)
{
    public async ValueTask<bool> IsAllowedAsync(ClaimsPrincipal user, string @namespace, string verb, CancellationToken cancellationToken)
    {
        if (user.FindFirst(ApiClaims.KubernetesUser)?.Value is { } kubernetesUser)
        {
            var uid = user.FindFirst(ApiClaims.KubernetesUid)?.Value;
            var groups = user.FindAll(ApiClaims.KubernetesGroup).Select(c => c.Value).ToList();
            return await cache.GetOrAddAsync($"sar:{kubernetesUser}\n{uid}\n{string.Join(',', groups)}\n{@namespace}\n{verb}",
                options.CurrentValue.KubernetesReviewCacheDuration,
                () => reviewer.CanAccessAsync(kubernetesUser, uid, groups, @namespace, verb, cancellationToken)).ConfigureAwait(false);
        }

        foreach (var claim in user.FindAll(ApiClaims.Namespace))
        {
            if (claim.Value == "*" || string.Equals(claim.Value, @namespace, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
