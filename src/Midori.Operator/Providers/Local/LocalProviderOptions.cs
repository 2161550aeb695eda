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

    /// <summary>
    /// On (default): preview requests must carry the sandbox's token (the value in the Secret named by
    /// <c>status.tokenSecretRef</c>) in <c>X-Midori-Preview-Token</c>, <c>?token=</c> or the cookie set after a valid <c>?token=</c>.
    /// </summary>
    public bool RequireToken { get; set; } = true;

    /// <summary>
    /// Whether the provider is offered at all. Unset: on outside a cluster, off inside one (in-cluster config detected),
    /// because there it runs tenants' files and commands inside the operator's pod. True enables it in-cluster too.
    /// </summary>
    public bool? Enabled { get; set; }

    /// <summary>The bubblewrap executable (empty: <c>/usr/bin/bwrap</c> or another standard location).</summary>
    public string? BubblewrapPath { get; set; }

    /// <summary>
    /// Extra host paths mounted read-only into every command sandbox (e.g. <c>/opt/node</c> when a toolchain lives outside
    /// <c>/usr</c>). Never list a path holding secrets.
    /// </summary>
    public List<string> SandboxReadOnlyPaths { get; set; } = [];

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

        foreach (var path in options.SandboxReadOnlyPaths)
        {
            if (!Path.IsPathFullyQualified(path))
            {
                errors.Add($"Providers:Local:SandboxReadOnlyPaths entries must be absolute paths; got '{path}'.");
            }
            else if (IsSensitive(path))
            {
                errors.Add($"Providers:Local:SandboxReadOnlyPaths must not expose '{path}': it is, or contains, where credentials live.");
            }
        }

        if (!string.IsNullOrWhiteSpace(options.BubblewrapPath) && !Path.IsPathFullyQualified(options.BubblewrapPath))
        {
            errors.Add($"Providers:Local:BubblewrapPath must be an absolute path; got '{options.BubblewrapPath}'.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>The root, the service-account and secret mounts, /proc, /root, /home and the operator's own directories.</summary>
    private static bool IsSensitive(string path)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        string[] sensitive = ["/var/run/secrets", "/run/secrets", "/proc", "/root", "/home", "/etc", "/var/run", "/run", AppContext.BaseDirectory];
        return full.Length <= 1
            || sensitive.Any(s => IsSameOrUnder(full, s) || IsSameOrUnder(Path.TrimEndingDirectorySeparator(Path.GetFullPath(s)), full));
    }

    private static bool IsSameOrUnder(string path, string root)
    {
        root = Path.TrimEndingDirectorySeparator(root);
        return path == root || path.StartsWith(root + "/", StringComparison.Ordinal);
    }
}
