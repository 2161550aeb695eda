using Midori.Operator.Files;
namespace Midori.Operator.Providers;

/// <summary>
/// Splits an upload into batches bounded by total bytes and file count, preserving order, so a provider with a
/// multi-file endpoint sends one request per batch instead of one per file, and no request grows without bound.
/// A file larger than the byte bound travels alone.
/// </summary>
public static class FileBatches
{
    public static IReadOnlyList<IReadOnlyList<SandboxFile>> Split(IReadOnlyList<SandboxFile> files, long maxBytes, int maxFiles)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFiles, 1);
        var batches = new List<IReadOnlyList<SandboxFile>>();
        var current = new List<SandboxFile>();
        long bytes = 0;
        foreach (var file in files)
        {
            if (current.Count > 0 && (current.Count >= maxFiles || bytes + file.Content.Length > maxBytes))
            {
                batches.Add(current);
                current = [];
                bytes = 0;
            }

            current.Add(file);
            bytes += file.Content.Length;
        }

        if (current.Count > 0)
        {
            batches.Add(current);
        }

        return batches;
    }
}
