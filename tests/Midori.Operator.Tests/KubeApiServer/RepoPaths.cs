namespace Midori.Operator.Tests.KubeApiServer;

/// <summary>Files the tests read from the repository and its shared sibling folder.</summary>
internal static class RepoPaths
{
    /// <summary>The first ancestor of the test binaries that holds Midori.Operator.sln.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>Recorded real-apiserver exchanges: ../shared/k8s-transcripts next to the repository.</summary>
    public static string Transcripts => Path.GetFullPath(Path.Combine(Root, "..", "shared", "k8s-transcripts"));

    public static string ProjectCrd => Path.Combine(Root, "config", "crd", "bases", "preview.midori.dev_previewsandboxes.yaml");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Midori.Operator.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("Midori.Operator.sln not found above " + AppContext.BaseDirectory);
    }
}
