using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Midori.Operator.Providers.Daytona;

/// <summary>
/// Settings of the <c>daytona</c> provider, bound from <c>Providers:Daytona</c> (env: <c>Providers__Daytona__ApiUrl</c>, ...).
/// The API key comes from configuration only (<c>Providers__Daytona__ApiKey</c>, or <c>DAYTONA_API_KEY</c> as the SDKs
/// read it), typically injected from a Secret; never from a PreviewSandbox, and never logged.
/// </summary>
public sealed class DaytonaProviderOptions
{
    public const string SectionName = "Providers:Daytona";

    /// <summary>Environment variable the Daytona SDKs read; used when <see cref="ApiKey"/> is not set.</summary>
    public const string ApiKeyEnvironmentVariable = "DAYTONA_API_KEY";

    /// <summary>Null: registered when the section or <c>DAYTONA_API_KEY</c> exists. False: never registered.</summary>
    public bool? Enabled { get; set; }

    /// <summary>Control-plane base URL (the SDK default; the server adds the <c>/api</c> prefix itself).</summary>
    [Required]
    public string ApiUrl { get; set; } = "https://app.daytona.io/api";

    /// <summary>Bearer API key (organization-scoped). Missing: the provider registers but reports CredentialsMissing.</summary>
    public string? ApiKey { get; set; }

    /// <summary>
    /// Overrides the toolbox base URL the API returns per sandbox (<c>toolboxProxyUrl</c>). <c>{sandboxId}</c> is
    /// replaced by the sandbox id; without the placeholder the URL is used as is (a mock of the toolbox spec, a test fake).
    /// </summary>
    public string? ToolboxUrl { get; set; }

    /// <summary>Snapshot used when <c>spec.template</c> is empty; empty: Daytona's default snapshot.</summary>
    public string? DefaultSnapshot { get; set; }

    /// <summary>Region (Daytona <c>target</c>); empty: the organization's default.</summary>
    public string? Target { get; set; }

    /// <summary>Auto-stop is set to the resource's idle timeout plus this margin: a safety net, the operator owns expiry.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan AutoStopMargin { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Minutes a stopped sandbox is kept before Daytona deletes it; 0 deletes at once (ephemeral), -1 never.</summary>
    [Range(-1, 43_200)]
    public int AutoDeleteMinutes { get; set; }

    /// <summary>Absolute directory inside the sandbox that holds the project files and runs the dev server.</summary>
    [Required]
    public string ProjectDirectory { get; set; } = "/home/daytona/project";

    /// <summary>Command serving the files when <c>spec.command</c> is empty; <c>{port}</c> is replaced by <c>spec.port</c>.</summary>
    [Required]
    public string StaticServerCommand { get; set; } = "python3 -m http.server {port} --bind 0.0.0.0";

    /// <summary>Longest wait for a sandbox to reach <c>started</c> before files can be uploaded.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:30:00")]
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromMinutes(3);

    /// <summary>Longest wait for the dev server's port to be in use after it was started.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:30:00")]
    public TimeSpan DevServerTimeout { get; set; } = TimeSpan.FromSeconds(90);

    /// <summary>Pause between state polls (sandbox start, dev-server port).</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Upper bound of one bulk-upload request's file bytes.</summary>
    [Range(1024, 512L * 1024 * 1024)]
    public long UploadBatchBytes { get; set; } = 8L * 1024 * 1024;

    /// <summary>Upper bound of files in one bulk-upload request.</summary>
    [Range(1, 10_000)]
    public int UploadBatchFiles { get; set; } = 500;

    /// <summary>Requests in flight at once for one upload or delete (batches, per-file deletes).</summary>
    [Range(1, 32)]
    public int RequestConcurrency { get; set; } = 4;

    /// <summary>Resilience of control-plane calls (<c>Providers:Daytona:Http</c>).</summary>
    public ProviderHttpOptions Http { get; set; } = new();

    /// <summary>Resilience of toolbox calls; uploads need a longer attempt timeout (<c>Providers:Daytona:ToolboxHttp</c>).</summary>
    public ProviderHttpOptions ToolboxHttp { get; set; } = new()
    {
        AttemptTimeout = TimeSpan.FromMinutes(2),
        TotalTimeout = TimeSpan.FromMinutes(6),
    };

    internal Uri ApiBaseUri => new(ApiUrl.EndsWith('/') ? ApiUrl : ApiUrl + "/", UriKind.Absolute);

    internal bool HasApiKey => !string.IsNullOrWhiteSpace(ApiKey);
}

/// <summary>Nested and cross-field checks (DataAnnotations does not recurse); reports every problem at once.</summary>
internal sealed class DaytonaProviderOptionsValidator : IValidateOptions<DaytonaProviderOptions>
{
    public ValidateOptionsResult Validate(string? name, DaytonaProviderOptions options)
    {
        var errors = new List<string>();
        if (!IsHttpUrl(options.ApiUrl))
        {
            errors.Add($"{DaytonaProviderOptions.SectionName}:ApiUrl must be an absolute http(s) URL; got '{options.ApiUrl}'.");
        }

        if (!string.IsNullOrWhiteSpace(options.ToolboxUrl) && !IsHttpUrl(options.ToolboxUrl.Replace("{sandboxId}", "x", StringComparison.Ordinal)))
        {
            errors.Add($"{DaytonaProviderOptions.SectionName}:ToolboxUrl must be an absolute http(s) URL; got '{options.ToolboxUrl}'.");
        }

        if (!options.ProjectDirectory.StartsWith('/') || options.ProjectDirectory.Contains("'", StringComparison.Ordinal))
        {
            errors.Add($"{DaytonaProviderOptions.SectionName}:ProjectDirectory must be an absolute path without quotes; got '{options.ProjectDirectory}'.");
        }

        if (options.ApiKey is { } key && key.Any(char.IsWhiteSpace))
        {
            errors.Add($"{DaytonaProviderOptions.SectionName}:ApiKey contains whitespace (value not shown); check the Secret.");
        }

        Nested("Http", options.Http, errors);
        Nested("ToolboxHttp", options.ToolboxHttp, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Nested(string section, ProviderHttpOptions http, List<string> errors)
    {
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(http, new ValidationContext(http), results, validateAllProperties: true))
        {
            errors.AddRange(results.Select(r => $"{DaytonaProviderOptions.SectionName}:{section}: {r.ErrorMessage}"));
        }

        if (http.AttemptTimeout > http.TotalTimeout)
        {
            errors.Add($"{DaytonaProviderOptions.SectionName}:{section}:AttemptTimeout must not exceed TotalTimeout.");
        }
    }

    private static bool IsHttpUrl(string? value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);
}
