using System.Globalization;
using System.Text;

namespace Midori.Operator.Files;

/// <summary>
/// Normalizes file paths relative to a project root and refuses anything that could escape it or confuse a
/// file system: absolute paths, <c>..</c>, backslashes, drive letters, NUL and control characters, odd Unicode
/// (unassigned, bidi overrides, format characters) and over-long names.
/// </summary>
public static class ProjectPath
{
    public const int MaxLength = 512;
    public const int MaxSegmentLength = 255;

    public static bool TryNormalize(string? path, out string normalized, out string error)
    {
        normalized = string.Empty;
        if (string.IsNullOrEmpty(path))
        {
            error = "path is empty";
            return false;
        }

        if (!path.IsNormalized(NormalizationForm.FormC))
        {
            path = path.Normalize(NormalizationForm.FormC);
        }

        if (path.Length > MaxLength)
        {
            error = $"path is longer than {MaxLength} characters";
            return false;
        }

        foreach (var rune in path.EnumerateRunes())
        {
            var category = Rune.GetUnicodeCategory(rune);
            if (rune.Value == 0 || category is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.OtherNotAssigned
                or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator)
            {
                error = $"path contains a forbidden character U+{rune.Value:X4}";
                return false;
            }
        }

        if (path.Contains('\\'))
        {
            error = "path must use '/' separators, not backslashes";
            return false;
        }

        // '~' would mean "home" to any shell that later sees the path; drive letters mean "absolute" elsewhere.
        if (path.StartsWith('/') || path.StartsWith('~') || (path.Length >= 2 && path[1] == ':' && char.IsAsciiLetter(path[0])))
        {
            error = "path must be relative to the project root";
            return false;
        }

        var segments = path.Split('/');
        if (path.StartsWith("./", StringComparison.Ordinal))
        {
            segments = segments[1..];
        }

        foreach (var segment in segments)
        {
            if (segment.Length == 0)
            {
                error = "path has an empty segment";
                return false;
            }

            if (segment is "." or "..")
            {
                error = "path must not contain '.' or '..' segments";
                return false;
            }

            if (segment.Length > MaxSegmentLength)
            {
                error = $"a path segment is longer than {MaxSegmentLength} characters";
                return false;
            }

            if (segment.EndsWith(' ') || segment.EndsWith('.'))
            {
                error = "a path segment must not end with a space or a dot";
                return false;
            }
        }

        normalized = string.Join('/', segments);
        error = string.Empty;
        return true;
    }

    /// <summary>
    /// Throws when Unicode normalisation does nothing (invariant globalization, or no ICU): two spellings of one
    /// name would then be stored as two files.
    /// </summary>
    public static void EnsureNormalization()
    {
        const string decomposed = "cafe\u0301";
        if (decomposed.Normalize(NormalizationForm.FormC) != "caf\u00e9")
        {
            throw new InvalidOperationException(
                "Unicode NFC normalisation is not available (invariant globalization or ICU missing); install ICU (libicu) or unset DOTNET_SYSTEM_GLOBALIZATION_INVARIANT");
        }
    }

    public static string Normalize(string? path) =>
        TryNormalize(path, out var normalized, out var error) ? normalized : throw new ArgumentException($"Invalid path '{path}': {error}", nameof(path));
}
