using System.ComponentModel.DataAnnotations;

namespace Midori.DevStack;

/// <summary>Settings of the development stack, bound from <c>DevStack</c> (env: <c>DevStack__DataDirectory</c>, ...; or <c>--DevStack:ApiServerPort=6443</c>).</summary>
public sealed class DevStackOptions
{
    public const string SectionName = "DevStack";

    /// <summary>Where the kubeconfig, the sandboxes and the API server's certificate go; relative to the directory the command was started from (<c>dotnet run</c> keeps it, see the project file).</summary>
    [Required]
    public string DataDirectory { get; set; } = ".midori-dev";

    /// <summary>Loopback port of the development Kubernetes API server; 0 picks a free one (the kubeconfig is rewritten at each start).</summary>
    [Range(0, 65535)]
    public int ApiServerPort { get; set; }

    /// <summary>Loopback port of the HTTP API and the playground (when <c>Urls</c> is not set); 0 picks a free one.</summary>
    [Range(0, 65535)]
    public int Port { get; set; } = 8080;

    /// <summary>Loopback port of the preview gateway's own origin (when <c>Urls</c> is not set); 0 picks a free one.</summary>
    [Range(0, 65535)]
    public int PreviewPort { get; set; } = 8081;

    /// <summary>Namespace the kubeconfig's context points at (created at start).</summary>
    [Required]
    public string Namespace { get; set; } = "default";

    /// <summary>Bearer token of the HTTP API (all namespaces); random at each start when empty.</summary>
    public string? ApiToken { get; set; }

    public string FullDataDirectory => Path.GetFullPath(DataDirectory);

    public string KubeconfigPath => Path.Combine(FullDataDirectory, "kubeconfig");
}
