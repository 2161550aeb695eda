using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Http.Auth;
using Midori.Operator.Tests.Http.Endpoints;
using static Midori.Operator.Tests.Http.ApiTestHost;

namespace Midori.Operator.Tests.Http.Auth;

/// <summary>Kubernetes tokens: TokenReview authenticates, SubjectAccessReview decides each namespace.</summary>
public sealed class KubernetesTokenAuthTests : IAsyncLifetime
{
    private readonly FakeReviewer _reviewer = new();
    private ApiTestHost _host = null!;

    public async Task InitializeAsync() => _host = await StartAsync(
        new Dictionary<string, string?> { ["Api:KubernetesTokenReview"] = "true" },
        services =>
        {
            services.RemoveAll<IKubernetesAccessReviewer>();
            services.AddSingleton<IKubernetesAccessReviewer>(_reviewer);
        });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task ServiceAccountToken_IsAllowedWhereSubjectAccessReviewSaysSo()
    {
        using var client = _host.Client(token: null);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", FakeReviewer.GoodToken);

        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"{Previews(TeamA)}/x")).StatusCode);
        await PreviewApiTests.AssertProblemAsync(await client.GetAsync($"{Previews(TeamB)}/x"), HttpStatusCode.Forbidden, "team-b");
        await PreviewApiTests.AssertProblemAsync(await client.DeleteAsync($"{Previews(TeamA)}/x"), HttpStatusCode.Forbidden, "may not delete");

        // Answers are cached: the second round costs no reviews.
        var reviews = _reviewer.Calls;
        await client.GetAsync($"{Previews(TeamA)}/x");
        await client.GetAsync($"{Previews(TeamB)}/x");
        Assert.Equal(reviews, _reviewer.Calls);

        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "rejected-by-kubernetes");
        await PreviewApiTests.AssertProblemAsync(await client.GetAsync($"{Previews(TeamA)}/x"), HttpStatusCode.Unauthorized, "TokenReview");
    }

    private sealed class FakeReviewer : IKubernetesAccessReviewer
    {
        public const string GoodToken = "eyJhbGciOi.service-account-token";
        private const string User = "system:serviceaccount:editor:backend";
        private int _calls;

        public int Calls => _calls;

        public Task<TokenReviewResult> ReviewTokenAsync(string token, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            return Task.FromResult(token == GoodToken
                ? new TokenReviewResult(true, User, "uid-1", ["system:serviceaccounts"])
                : new TokenReviewResult(false, null, null, []));
        }

        public Task<bool> CanAccessAsync(string user, string? uid, IReadOnlyList<string> groups, string @namespace, string verb, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            return Task.FromResult(user == User && groups.Contains("system:serviceaccounts") && @namespace == TeamA && verb != "delete");
        }
    }
}
