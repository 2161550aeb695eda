using System.Text;

namespace Midori.Operator.Files;

/// <summary>
/// Rules a whole file set must follow so that every file system can hold it: no path is a directory of another
/// (<c>a</c> and <c>a/b</c> cannot both be files), and no two paths name the same file after Unicode NFC
/// normalisation (<c>café</c> typed as NFC and as NFD). Paths given here are already <see cref="ProjectPath"/>-normalized.
/// </summary>
public static class FileSetRules
{
    /// <summary>
    /// A pair in <paramref name="paths"/> where <c>File</c> is also a directory of <c>Other</c>, considering only pairs
    /// with at least one path in <paramref name="changed"/> (all pairs when null), so a set that was already broken
    /// does not block unrelated changes.
    /// </summary>
    public static (string File, string Other)? FindPrefixConflict(IReadOnlyCollection<string> paths, IEnumerable<string>? changed = null)
    {
        var all = paths as IReadOnlySet<string> ?? new HashSet<string>(paths, StringComparer.Ordinal);
        SortedSet<string>? sorted = null;
        foreach (var path in changed ?? paths)
        {
            if (!all.Contains(path))
            {
                continue;
            }

            // An ancestor directory of this path that is a file.
            for (var slash = path.IndexOf('/', StringComparison.Ordinal); slash > 0; slash = path.IndexOf('/', slash + 1))
            {
                var ancestor = path[..slash];
                if (all.Contains(ancestor))
                {
                    return (ancestor, path);
                }
            }

            // A file below this path ('0' is the character right after '/', so the view is exactly "path/…").
            sorted ??= new SortedSet<string>(all, StringComparer.Ordinal);
            var below = sorted.GetViewBetween(path + "/", path + "0");
            foreach (var descendant in below)
            {
                if (descendant.StartsWith(path + "/", StringComparison.Ordinal))
                {
                    return (path, descendant);
                }
            }
        }

        return null;
    }

    /// <summary>The conflict as a sentence naming both paths.</summary>
    public static string DescribePrefixConflict(string file, string other) =>
        $"'{file}' is a file, so it cannot also be the directory of '{other}'; remove or rename one of them";

    public static string DescribeNormalizationConflict(string first, string second) =>
        $"'{Escape(first)}' and '{Escape(second)}' are the same name after Unicode NFC normalisation; give each file one spelling";

    /// <summary>Shows combining marks and other invisible differences as code points, so both spellings can be told apart.</summary>
    public static string Escape(string path)
    {
        var builder = new StringBuilder(path.Length);
        foreach (var rune in path.EnumerateRunes())
        {
            if (rune.IsAscii)
            {
                builder.Append((char)rune.Value);
            }
            else
            {
                builder.Append(rune.ToString()).Append("(U+").Append(rune.Value.ToString("X4", System.Globalization.CultureInfo.InvariantCulture)).Append(')');
            }
        }

        return builder.ToString();
    }
}

/// <summary>A file set breaks <see cref="FileSetRules"/>; names both paths.</summary>
public sealed class FileSetConflictException(string first, string second, string message) : Exception(message)
{
    public string First { get; } = first;

    public string Second { get; } = second;

    public static FileSetConflictException Prefix(string file, string other) => new(file, other, FileSetRules.DescribePrefixConflict(file, other));

    public static FileSetConflictException Normalization(string first, string second) =>
        new(first, second, FileSetRules.DescribeNormalizationConflict(first, second));
}
