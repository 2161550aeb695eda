using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.Extensions.Options;

namespace Midori.Operator.Providers.Local;

/// <summary>Settings of the <c>local</c> sandbox provider, bound from <c>Providers:Local</c> (env: <c>Providers__Local__BindAddress</c>, ...).</summary>
public sealed class LocalProviderOptions
{
    public const string SectionName = "Providers:Local";

    /// <summary>Directory holding one folder per sandbox (<c>{root}/{id}/project</c>, <c>sandbox.json</c>, <c>logs/</c>).</summary>
    [Required]
    public string RootDirectory { get; set; } = Path.Combine(Path.GetTempPath(), "midori-sandboxes");

    /// <summary>IP address every sandbox server listens on (each on its own ephemeral port).</summary>
    [Required]
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>Host name put into preview URLs; empty: <see cref="BindAddress"/>.</summary>
    public string? PublicHost { get; set; }

    /// <summary>How long a dev-server command may take until its port accepts connections.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:30:00")]
    public TimeSpan StartupTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Time between SIGTERM and SIGKILL (command mode) or graceful Kestrel shutdown (static mode).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:05:00")]
    public TimeSpan StopGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Hard cap on a sandbox's life, counted from its creation; Extend never goes past it (E2B-like).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan MaxLifetime { get; set; } = TimeSpan.FromHours(24);

    /// <summary>On: preview requests must carry the token in <c>X-Midori-Preview-Token</c> or <c>?token=</c>.</summary>
    public bool RequireToken { get; set; }

    /// <summary>Effective host for preview URLs.</summary>
    internal string EffectivePublicHost => string.IsNullOrWhiteSpace(PublicHost) ? BindAddress : PublicHost;
}

/// <summary>Cross-field checks; reports every problem at once.</summary>
internal sealed class LocalProviderOptionsValidator : IValidateOptions<LocalProviderOptions>
{
    public ValidateOptionsResult Validate(string? name, LocalProviderOptions options)
    {
        var errors = new List<string>();
        if (!IPAddress.TryParse(options.BindAddress, out _))
        {
            errors.Add($"Providers:Local:BindAddress must be an IP address; got '{options.BindAddress}'.");
        }

        if (!string.IsNullOrWhiteSpace(options.RootDirectory) && !Path.IsPathFullyQualified(options.RootDirectory))
        {
            errors.Add($"Providers:Local:RootDirectory must be an absolute path; got '{options.RootDirectory}'.");
        }

        if (!string.IsNullOrWhiteSpace(options.PublicHost) && Uri.CheckHostName(options.PublicHost) == UriHostNameType.Unknown)
        {
            errors.Add($"Providers:Local:PublicHost must be a host name or IP address; got '{options.PublicHost}'.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
