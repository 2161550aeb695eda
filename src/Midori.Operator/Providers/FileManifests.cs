using System.Globalization;
using Midori.Operator.Files;

namespace Midori.Operator.Providers;

/// <summary>
/// Reading a sandbox's file manifest through a shell (Daytona toolbox, E2B envd): one <c>sha256sum</c> over every file
/// of the project directory, parsed into path → <see cref="ContentHash"/>. Shared so both remote providers agree.
/// </summary>
public static class FileManifests
{
    /// <summary>Folders the editor never pushes (installed dependencies, VCS data); hashing them would cost seconds.</summary>
    public static readonly IReadOnlyList<string> SkippedDirectories = ["node_modules", ".git"];

    /// <summary>
    /// The command run inside the sandbox. <c>find -print0 | xargs -0</c> copes with spaces; an empty directory prints
    /// nothing and exits 0 (<c>-r</c>).
    /// </summary>
    public static string Command(string projectDirectory)
    {
        var prune = string.Join(" -o ", SkippedDirectories.Select(d => $"-name {d}"));
        return $"cd {Quote(projectDirectory)} && find . \\( {prune} \\) -prune -o -type f -print0 | xargs -0 -r sha256sum";
    }

    /// <summary>
    /// Parses <c>sha256sum</c> output ("hex␠␠./path" per line). A line starting with a backslash marks a name with a
    /// newline or backslash in it (GNU escapes those); such names cannot come from the editor, so they are skipped.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Parse(string output)
    {
        var manifest = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in output.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length < 67 || line[0] == '\\' || line[64] != ' ')
            {
                continue;
            }

            var hex = line[..64];
            if (!hex.All(Uri.IsHexDigit))
            {
                continue;
            }

            // "hex  path" (text mode) or "hex *path" (binary mode)
            var path = line[66..];
            if (path.StartsWith("./", StringComparison.Ordinal))
            {
                path = path[2..];
            }

            if (path.Length > 0)
            {
                manifest[path] = ContentHash.Prefix + hex.ToLower(CultureInfo.InvariantCulture);
            }
        }

        return manifest;
    }

    /// <summary>Hashes every file under <paramref name="root"/> (the local provider reads its directory directly).</summary>
    public static IReadOnlyDictionary<string, string> OfDirectory(string root)
    {
        var manifest = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!Directory.Exists(root))
        {
            return manifest;
        }

        var pending = new Stack<string>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            var directory = pending.Pop();
            foreach (var sub in Directory.EnumerateDirectories(directory))
            {
                if (!SkippedDirectories.Contains(Path.GetFileName(sub), StringComparer.Ordinal)
                    && !new DirectoryInfo(sub).Attributes.HasFlag(FileAttributes.ReparsePoint))
                {
                    pending.Push(sub);
                }
            }

            foreach (var file in Directory.EnumerateFiles(directory))
            {
                var relative = Path.GetRelativePath(root, file).Replace(Path.DirectorySeparatorChar, '/');
                manifest[relative] = ContentHash.Compute(File.ReadAllBytes(file));
            }
        }

        return manifest;
    }

    /// <summary>
    /// Paths whose content in the sandbox differs from <paramref name="expected"/> (missing or other hash), and paths the
    /// sandbox holds that <paramref name="removed"/> says were deleted. Files the dev server generated stay untouched.
    /// </summary>
    public static (IReadOnlyList<string> Differing, IReadOnlyList<string> Stale) Compare(
        IReadOnlyDictionary<string, string> expected, IReadOnlyDictionary<string, string> actual, IReadOnlyCollection<string> removed)
    {
        var differing = expected.Where(kv => !actual.TryGetValue(kv.Key, out var hash) || !string.Equals(hash, kv.Value, StringComparison.OrdinalIgnoreCase))
            .Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
        var stale = removed.Where(p => actual.ContainsKey(p) && !expected.ContainsKey(p)).Order(StringComparer.Ordinal).ToList();
        return (differing, stale);
    }

    private static string Quote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
