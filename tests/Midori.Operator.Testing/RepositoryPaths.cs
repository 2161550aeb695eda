namespace Midori.Operator.Testing;

/// <summary>Finds checked-in files (CRDs, samples, chart, shared transcripts) from the test binaries' folder.</summary>
public static class RepositoryPaths
{
    private static readonly Lazy<string> RootPath = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Midori.Operator.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No Midori.Operator.sln above {AppContext.BaseDirectory}");
    });

    public static string Root => RootPath.Value;

    public static string CrdFile => Path.Combine(Root, "config", "crd", "bases", "preview.midori.dev_previewsandboxes.yaml");

    public static string PolicyCrdFile => Path.Combine(Root, "config", "crd", "bases", "preview.midori.dev_previewsandboxpolicies.yaml");

    public static string PoolCrdFile => Path.Combine(Root, "config", "crd", "bases", "preview.midori.dev_previewsandboxpools.yaml");

    public static string SamplesDirectory => Path.Combine(Root, "config", "samples");

    /// <summary><c>../shared</c> beside the project root: design docs, provider specs, apiserver transcripts.</summary>
    public static string Shared => Path.GetFullPath(Path.Combine(Root, "..", "shared"));
}
