namespace Midori.DevApiServer.Storage;

/// <summary>
/// Label selector as accepted by <c>?labelSelector=</c>: equality (<c>a=b</c>, <c>a==b</c>, <c>a!=b</c>),
/// existence (<c>a</c>, <c>!a</c>) and set-based (<c>a in (x,y)</c>, <c>a notin (x)</c>) requirements, ANDed.
/// </summary>
public sealed class LabelSelector
{
    public static readonly LabelSelector Everything = new([]);

    private readonly IReadOnlyList<Func<IReadOnlyDictionary<string, string>, bool>> _requirements;

    private LabelSelector(IReadOnlyList<Func<IReadOnlyDictionary<string, string>, bool>> requirements) => _requirements = requirements;

    /// <exception cref="FormatException">The selector is malformed.</exception>
    public static LabelSelector Parse(string? selector)
    {
        if (string.IsNullOrWhiteSpace(selector))
        {
            return Everything;
        }

        var requirements = new List<Func<IReadOnlyDictionary<string, string>, bool>>();
        foreach (var term in SplitTerms(selector))
        {
            requirements.Add(ParseTerm(term.Trim()));
        }

        return new LabelSelector(requirements);
    }

    public bool Matches(IReadOnlyDictionary<string, string> labels) => _requirements.All(r => r(labels));

    // Commas separate requirements except inside "in (a,b)" value sets.
    private static IEnumerable<string> SplitTerms(string selector)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < selector.Length; i++)
        {
            depth += selector[i] switch { '(' => 1, ')' => -1, _ => 0 };
            if (selector[i] == ',' && depth == 0)
            {
                yield return selector[start..i];
                start = i + 1;
            }
        }

        yield return selector[start..];
    }

    private static Func<IReadOnlyDictionary<string, string>, bool> ParseTerm(string term)
    {
        if (term.StartsWith('!'))
        {
            var key = term[1..].Trim();
            return labels => !labels.ContainsKey(key);
        }

        foreach (var (op, negate) in new[] { ("!=", true), ("==", false), ("=", false) })
        {
            var index = term.IndexOf(op, StringComparison.Ordinal);
            if (index > 0)
            {
                var key = term[..index].Trim();
                var value = term[(index + op.Length)..].Trim();
                return labels => (labels.TryGetValue(key, out var v) && v == value) != negate;
            }
        }

        var parts = term.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 2)
        {
            var setStart = parts[1].IndexOf('(', StringComparison.Ordinal);
            var setOp = setStart > 0 ? parts[1][..setStart].Trim() : string.Empty;
            if (setOp is "in" or "notin" && parts[1].EndsWith(')'))
            {
                var key = parts[0];
                var values = parts[1][(setStart + 1)..^1].Split(',', StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
                return setOp == "in"
                    ? labels => labels.TryGetValue(key, out var v) && values.Contains(v)
                    : labels => !labels.TryGetValue(key, out var v) || !values.Contains(v);
            }

            throw new FormatException($"unable to parse requirement: {term}");
        }

        return labels => labels.ContainsKey(term);
    }
}
