using System.Collections.Concurrent;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Midori.Operator.Http.Problems;
using Midori.Operator.Http.Services;

namespace Midori.Operator.Http.Auth;

/// <summary>
/// Bearer tokens: static tokens from <see cref="HttpApiOptions.Tokens"/> (looked up by SHA-256, compared in constant
/// time), else — when enabled — a Kubernetes TokenReview (answers cached briefly by token hash). Failures are 401
/// problem details with <c>WWW-Authenticate: Bearer</c>.
/// </summary>
public sealed class BearerTokenAuthenticationHandler : AuthenticationHandler<AuthenticationSchemeOptions>
{
    private readonly IOptionsMonitor<HttpApiOptions> _apiOptions;
    private readonly IKubernetesAccessReviewer _reviewer;
    private readonly TimeProvider _time;
    private readonly ReviewCache _cache;

    public BearerTokenAuthenticationHandler(
        IOptionsMonitor<AuthenticationSchemeOptions> options,
        ILoggerFactory logger,
        UrlEncoder encoder,
        IOptionsMonitor<HttpApiOptions> apiOptions,
        IKubernetesAccessReviewer reviewer,
        TimeProvider time,
        ReviewCache cache)
        : base(options, logger, encoder)
    {
        _apiOptions = apiOptions;
        _reviewer = reviewer;
        _time = time;
        _cache = cache;
    }

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header))
        {
            return AuthenticateResult.NoResult();
        }

        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length <= 7)
        {
            return AuthenticateResult.Fail("the Authorization header must be 'Bearer <token>'");
        }

        var token = header[7..].Trim();
        var options = _apiOptions.CurrentValue;
        var tokenHash = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        foreach (var (configuredHash, configured) in HashedTokens(options))
        {
            if (CryptographicOperations.FixedTimeEquals(tokenHash, configuredHash))
            {
                var claims = new List<Claim> { new(ClaimTypes.Name, configured.Name) };
                claims.AddRange(configured.Namespaces.Select(n => new Claim(ApiClaims.Namespace, n)));
                return Success(claims);
            }
        }

        if (!options.KubernetesTokenReview)
        {
            return AuthenticateResult.Fail("unknown bearer token");
        }

        var cacheKey = "tr:" + Convert.ToHexString(tokenHash);
        var review = await _cache.GetOrAddAsync(cacheKey, options.KubernetesReviewCacheDuration,
            () => _reviewer.ReviewTokenAsync(token, Context.RequestAborted)).ConfigureAwait(false);
        if (review is not { Authenticated: true, UserName: { } user })
        {
            return AuthenticateResult.Fail("the token was not accepted by Kubernetes TokenReview");
        }

        var kubeClaims = new List<Claim> { new(ClaimTypes.Name, user), new(ApiClaims.KubernetesUser, user) };
        if (review.Uid is { } uid)
        {
            kubeClaims.Add(new Claim(ApiClaims.KubernetesUid, uid));
        }

        kubeClaims.AddRange(review.Groups.Select(g => new Claim(ApiClaims.KubernetesGroup, g)));
        return Success(kubeClaims);
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        var failure = (await HandleAuthenticateOnceSafeAsync().ConfigureAwait(false)).Failure?.Message;
        var refusal = ServiceError.Unauthenticated(failure ?? "a bearer token is required (Authorization: Bearer <token>)");
        await ApiProblems.WriteAsync(Context, ApiProblems.ToProblemDetails(refusal)).ConfigureAwait(false);
    }

    private static HashedTokenSet s_hashed = new(new HttpApiOptions(), []);

    /// <summary>Configured tokens hashed once per options instance (options reload swaps the instance).</summary>
    private static (byte[] Hash, ApiTokenOptions Token)[] HashedTokens(HttpApiOptions options)
    {
        var current = s_hashed;
        if (ReferenceEquals(current.Options, options))
        {
            return current.Tokens;
        }

        var tokens = options.Tokens.Select(t => (SHA256.HashData(Encoding.UTF8.GetBytes(t.Token)), t)).ToArray();
        s_hashed = new HashedTokenSet(options, tokens);
        return tokens;
    }

    /// <summary>One reference, swapped atomically, so a reader never pairs one options instance with another's hashes.</summary>
    private sealed record HashedTokenSet(HttpApiOptions Options, (byte[] Hash, ApiTokenOptions Token)[] Tokens);

    private AuthenticateResult Success(List<Claim> claims) =>
        AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity(claims, ApiClaims.Scheme)), ApiClaims.Scheme));
}

/// <summary>Short-lived cache of review answers (TokenReview per token hash, SubjectAccessReview per user/namespace/verb).</summary>
public sealed class ReviewCache(TimeProvider time)
{
    private const int MaxEntries = 10_000;
    private readonly ConcurrentDictionary<string, (DateTimeOffset Expires, object? Value)> _entries = new(StringComparer.Ordinal);

    public async Task<T> GetOrAddAsync<T>(string key, TimeSpan ttl, Func<Task<T>> factory)
    {
        var now = time.GetUtcNow();
        if (_entries.TryGetValue(key, out var entry) && entry.Expires > now && entry.Value is T cached)
        {
            return cached;
        }

        var value = await factory().ConfigureAwait(false);
        if (_entries.Count >= MaxEntries)
        {
            foreach (var stale in _entries.Where(e => e.Value.Expires <= now).Select(e => e.Key).ToList())
            {
                _entries.TryRemove(stale, out _);
            }

            if (_entries.Count >= MaxEntries)
            {
                _entries.Clear(); // bounded memory beats a perfect hit rate
            }
        }

        _entries[key] = (now + ttl, value);
        return value;
    }
}
