using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Midori.Operator.Http;

/// <summary>Settings of the editor's HTTP API, bound from the <c>Api</c> section (env: <c>Api__MaxFileBytes</c>, ...).</summary>
public sealed class HttpApiOptions
{
    public const string SectionName = "Api";

    /// <summary>Static bearer tokens, each allowed into a set of namespaces ("*" = all).</summary>
    public List<ApiTokenOptions> Tokens { get; set; } = [];

    /// <summary>Also accept Kubernetes service-account/user tokens: TokenReview authenticates, SubjectAccessReview authorizes per namespace.</summary>
    public bool KubernetesTokenReview { get; set; }

    /// <summary>How long a TokenReview/SubjectAccessReview answer is reused.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan KubernetesReviewCacheDuration { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Largest single file (decoded bytes).</summary>
    [Range(1, 512L * 1024 * 1024)]
    public long MaxFileBytes { get; set; } = 5 * 1024 * 1024;

    /// <summary>Largest request body; bigger requests get 413 before they are read.</summary>
    [Range(1024, 1024L * 1024 * 1024)]
    public long MaxRequestBodyBytes { get; set; } = 32 * 1024 * 1024;

    /// <summary>Most files one project's working copy may hold.</summary>
    [Range(1, 1_000_000)]
    public int MaxFilesPerProject { get; set; } = 5_000;

    /// <summary>Most line operations in one PATCH.</summary>
    [Range(1, 1_000_000)]
    public int MaxPatchOperations { get; set; } = 10_000;

    /// <summary>Requests per second each caller may make (token bucket refill).</summary>
    [Range(1, 1_000_000)]
    public int RateLimitPerSecond { get; set; } = 500;

    /// <summary>Burst above the steady rate each caller may make.</summary>
    [Range(1, 10_000_000)]
    public int RateLimitBurst { get; set; } = 1_000;

    /// <summary>Longest a create with <c>?wait=true</c> waits for Ready.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan MaxWait { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Wait used when <c>?wait=true</c> gives no <c>timeoutSeconds</c>.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan DefaultWait { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Timeout of one direct push of changed files to a running sandbox (the reconciler retries after it).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan PushTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Most heartbeats recorded in the store in one round trip.</summary>
    [Range(1, 100_000)]
    public int HeartbeatBatchSize { get; set; } = 1_000;
}

public sealed class ApiTokenOptions
{
    /// <summary>Caller name (rate-limit partition, logs). Never the token itself.</summary>
    [Required]
    public string Name { get; set; } = string.Empty;

    /// <summary>The bearer token (at least 16 characters).</summary>
    [Required]
    [MinLength(16)]
    public string Token { get; set; } = string.Empty;

    /// <summary>Namespaces this token may use; "*" allows all.</summary>
    [MinLength(1)]
    public List<string> Namespaces { get; set; } = [];
}

/// <summary>Cross-field checks (DataAnnotations do not recurse into lists).</summary>
internal sealed class HttpApiOptionsValidator : IValidateOptions<HttpApiOptions>
{
    public ValidateOptionsResult Validate(string? name, HttpApiOptions options)
    {
        var errors = new List<string>();
        if (options.MaxFileBytes > options.MaxRequestBodyBytes)
        {
            errors.Add("Api:MaxFileBytes must not exceed Api:MaxRequestBodyBytes.");
        }

        if (options.DefaultWait > options.MaxWait)
        {
            errors.Add("Api:DefaultWait must not exceed Api:MaxWait.");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        var tokens = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Tokens.Count; i++)
        {
            var token = options.Tokens[i];
            var results = new List<ValidationResult>();
            if (!Validator.TryValidateObject(token, new ValidationContext(token), results, validateAllProperties: true))
            {
                errors.AddRange(results.Select(r => $"Api:Tokens:{i}: {r.ErrorMessage}"));
            }

            if (!names.Add(token.Name))
            {
                errors.Add($"Api:Tokens:{i}: name '{token.Name}' is used twice.");
            }

            if (!tokens.Add(token.Token))
            {
                errors.Add($"Api:Tokens:{i}: the same token is configured twice.");
            }

            if (token.Namespaces.Any(string.IsNullOrWhiteSpace))
            {
                errors.Add($"Api:Tokens:{i}: namespaces must not be empty strings.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
