using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Midori.Operator.Providers.E2B;

/// <summary>
/// Settings of the <c>e2b</c> provider, bound from <c>Providers:E2B</c>. The API key comes from the environment or a
/// mounted Secret (<c>Providers__E2B__ApiKey</c>, or E2B's own <c>E2B_API_KEY</c>), never from a PreviewSandbox.
/// </summary>
public sealed class E2BProviderOptions
{
    public const string SectionName = "Providers:E2B";

    /// <summary>E2B's conventional variable, read when <see cref="ApiKey"/> is not set.</summary>
    public const string ApiKeyVariable = "E2B_API_KEY";

    /// <summary>
    /// Forces registration on or off; unset, the provider registers when <c>Providers:E2B</c> or <c>E2B_API_KEY</c> is set
    /// (a missing key then surfaces as CredentialsMissing on the resources that ask for e2b).
    /// </summary>
    public bool? Enabled { get; set; }

    /// <summary>Control-plane API (spec <c>servers</c>).</summary>
    [Required]
    public Uri ApiUrl { get; set; } = new("https://api.e2b.app");

    /// <summary>Sandbox domain used when the API returns none (<c>Sandbox.domain</c> is nullable; E2B's default is e2b.app).</summary>
    [Required]
    public string Domain { get; set; } = "e2b.app";

    /// <summary>Secret. Never logged, never put into messages or status.</summary>
    public string? ApiKey { get; set; }

    /// <summary>
    /// Fixed envd base URL instead of <c>https://49983-{sandboxId}.{domain}</c> (tests, self-hosted proxies). Requests
    /// always carry <c>E2b-Sandbox-Id</c>/<c>E2b-Sandbox-Port</c>, which E2B's proxy uses to route on shared hosts.
    /// </summary>
    public Uri? EnvdUrl { get; set; }

    /// <summary>Preview URL of a sandbox port; placeholders {port}, {sandboxId}, {domain}. E2B's proxy parses the first label.</summary>
    [Required]
    public string PreviewUrlTemplate { get; set; } = "https://{port}-{sandboxId}.{domain}/";

    /// <summary>Template ID or alias used when <c>spec.template</c> is empty (the SDK's default is "base").</summary>
    [Required]
    public string DefaultTemplate { get; set; } = "base";

    /// <summary>Absolute directory in the sandbox that receives the project files and is the dev server's working directory.</summary>
    [Required]
    public string ProjectDirectory { get; set; } = "/home/user/project";

    /// <summary>Create sandboxes with <c>secure: true</c>: envd then requires the per-sandbox access token (as the SDK does).</summary>
    public bool Secure { get; set; } = true;

    /// <summary>False: preview URLs need the <c>e2b-traffic-access-token</c> header (the token lands in the resource's Secret).</summary>
    public bool AllowPublicTraffic { get; set; } = true;

    /// <summary>Dev-server command when <c>spec.command</c> is empty: serve the project files as they are, on $PORT.</summary>
    [Required]
    public string StaticServerCommand { get; set; } = "python3 -m http.server \"$PORT\" --bind 0.0.0.0";

    /// <summary>Upper bound of one multipart upload request (files are batched up to this size).</summary>
    [Range(1, 512L * 1024 * 1024)]
    public long UploadBatchBytes { get; set; } = 8L * 1024 * 1024;

    /// <summary>Upper bound of files in one upload request; 1 uploads file by file.</summary>
    [Range(1, 10_000)]
    public int UploadBatchFiles { get; set; } = 500;

    /// <summary>How long <c>StartAsync</c> waits for the dev server's port to answer through the preview host; zero: do not wait.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:30:00")]
    public TimeSpan StartupTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Pause between two readiness checks of the preview host while the dev server starts.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:00:30")]
    public TimeSpan StartupPollInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Resilience of both the API and envd clients.</summary>
    [Required]
    public ProviderHttpOptions Http { get; set; } = new();

    internal bool HasApiKey => !string.IsNullOrWhiteSpace(ApiKey);
}

/// <summary>Cross-field checks; reports every problem at once.</summary>
internal sealed class E2BProviderOptionsValidator : IValidateOptions<E2BProviderOptions>
{
    public ValidateOptionsResult Validate(string? name, E2BProviderOptions options)
    {
        var errors = new List<string>();
        const string prefix = "Providers:E2B:";
        if (options.ApiUrl is not { IsAbsoluteUri: true } api || (api.Scheme != Uri.UriSchemeHttps && api.Scheme != Uri.UriSchemeHttp))
        {
            errors.Add($"{prefix}ApiUrl must be an absolute http(s) URL; got '{options.ApiUrl}'.");
        }

        if (options.EnvdUrl is { } envd && (!envd.IsAbsoluteUri || (envd.Scheme != Uri.UriSchemeHttps && envd.Scheme != Uri.UriSchemeHttp)))
        {
            errors.Add($"{prefix}EnvdUrl must be an absolute http(s) URL; got '{envd}'.");
        }

        if (string.IsNullOrWhiteSpace(options.Domain) || Uri.CheckHostName(options.Domain.Split(':')[0]) == UriHostNameType.Unknown)
        {
            errors.Add($"{prefix}Domain must be a host name; got '{options.Domain}'.");
        }

        var template = options.PreviewUrlTemplate ?? string.Empty;
        if (!template.Contains("{sandboxId}", StringComparison.Ordinal) || !template.Contains("{port}", StringComparison.Ordinal))
        {
            errors.Add($"{prefix}PreviewUrlTemplate must contain {{sandboxId}} and {{port}}; got '{template}'.");
        }
        else if (!Uri.TryCreate(E2BPreview.Expand(template, "sandbox", 3000, "example.com"), UriKind.Absolute, out var sample)
                 || (sample.Scheme != Uri.UriSchemeHttps && sample.Scheme != Uri.UriSchemeHttp))
        {
            errors.Add($"{prefix}PreviewUrlTemplate must expand to an absolute http(s) URL; got '{template}'.");
        }

        if (string.IsNullOrWhiteSpace(options.ProjectDirectory) || !options.ProjectDirectory.StartsWith('/') || options.ProjectDirectory.Contains("/../", StringComparison.Ordinal))
        {
            errors.Add($"{prefix}ProjectDirectory must be an absolute path inside the sandbox; got '{options.ProjectDirectory}'.");
        }

        if (!options.Secure && !options.AllowPublicTraffic)
        {
            errors.Add($"{prefix}AllowPublicTraffic=false needs Secure=true (E2B refuses the combination).");
        }

        if (options.Http is { } http)
        {
            var results = new List<ValidationResult>();
            if (!Validator.TryValidateObject(http, new ValidationContext(http), results, validateAllProperties: true))
            {
                errors.AddRange(results.Select(r => $"{prefix}Http: {r.ErrorMessage}"));
            }

            if (http.AttemptTimeout > http.TotalTimeout)
            {
                errors.Add($"{prefix}Http:AttemptTimeout ({http.AttemptTimeout}) must not exceed Http:TotalTimeout ({http.TotalTimeout}).");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Fills <see cref="E2BProviderOptions.ApiKey"/> from <c>E2B_API_KEY</c> when the section does not set it.</summary>
internal sealed class E2BApiKeyFallback(IConfiguration configuration) : IPostConfigureOptions<E2BProviderOptions>
{
    public void PostConfigure(string? name, E2BProviderOptions options)
    {
        if (!options.HasApiKey && configuration[E2BProviderOptions.ApiKeyVariable] is { Length: > 0 } key)
        {
            options.ApiKey = key.Trim();
        }
    }
}
