using System.Globalization;
using System.Text.RegularExpressions;

namespace Midori.Operator.Tests.Diagnostics;

/// <summary>
/// A strict reader of the Prometheus text exposition format (version 0.0.4): every line is a HELP, a TYPE or a sample;
/// samples belong to a declared family; histogram buckets are cumulative and end with +Inf equal to _count.
/// </summary>
internal static partial class PrometheusText
{
    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    public sealed record Scrape(IReadOnlyDictionary<string, string> Types, IReadOnlyList<Sample> Samples)
    {
        public IEnumerable<Sample> Find(string name, params (string Key, string Value)[] labels) =>
            Samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value));
    }

    [GeneratedRegex("^# HELP (?<name>[a-zA-Z_:][a-zA-Z0-9_:]*) .*$")]
    private static partial Regex HelpLine();

    [GeneratedRegex("^# TYPE (?<name>[a-zA-Z_:][a-zA-Z0-9_:]*) (?<type>counter|gauge|histogram|summary|untyped)$")]
    private static partial Regex TypeLine();

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[^}]*)\})? (?<value>\S+)( -?\d+)?$""")]
    private static partial Regex SampleLine();

    [GeneratedRegex("""(?<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?<value>(\\.|[^"\\])*)",?""")]
    private static partial Regex LabelPair();

    /// <summary>Parses and validates; throws <see cref="FormatException"/> naming the first bad line.</summary>
    public static Scrape Parse(string text)
    {
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var samples = new List<Sample>();
        var lineNumber = 0;
        foreach (var line in text.Split('\n'))
        {
            lineNumber++;
            if (line.Length == 0)
            {
                continue;
            }

            if (line.StartsWith('#'))
            {
                if (TypeLine().Match(line) is { Success: true } type)
                {
                    types[type.Groups["name"].Value] = type.Groups["type"].Value;
                    continue;
                }

                if (HelpLine().IsMatch(line))
                {
                    continue;
                }

                throw new FormatException($"line {lineNumber}: bad comment '{line}'");
            }

            var match = SampleLine().Match(line);
            if (!match.Success)
            {
                throw new FormatException($"line {lineNumber}: not a sample '{line}'");
            }

            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            var labelText = match.Groups["labels"].Value;
            var consumed = 0;
            foreach (Match pair in LabelPair().Matches(labelText))
            {
                labels[pair.Groups["key"].Value] = pair.Groups["value"].Value;
                consumed += pair.Length;
            }

            if (consumed != labelText.Length)
            {
                throw new FormatException($"line {lineNumber}: bad labels '{labelText}'");
            }

            var name = match.Groups["name"].Value;
            if (FamilyOf(name, types) is null)
            {
                throw new FormatException($"line {lineNumber}: sample {name} has no # TYPE");
            }

            var raw = match.Groups["value"].Value;
            var value = raw switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                _ => double.Parse(raw, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            samples.Add(new Sample(name, labels, value));
        }

        var scrape = new Scrape(types, samples);
        CheckHistograms(scrape);
        return scrape;
    }

    private static string? FamilyOf(string sample, Dictionary<string, string> types)
    {
        if (types.ContainsKey(sample))
        {
            return sample;
        }

        foreach (var suffix in new[] { "_bucket", "_sum", "_count" })
        {
            if (sample.EndsWith(suffix, StringComparison.Ordinal) && types.TryGetValue(sample[..^suffix.Length], out var type) && type is "histogram" or "summary")
            {
                return sample[..^suffix.Length];
            }
        }

        return null;
    }

    private static void CheckHistograms(Scrape scrape)
    {
        foreach (var (family, _) in scrape.Types.Where(t => t.Value == "histogram"))
        {
            var series = scrape.Samples.Where(s => s.Name == family + "_bucket")
                .GroupBy(s => string.Join(",", s.Labels.Where(l => l.Key != "le").OrderBy(l => l.Key).Select(l => $"{l.Key}={l.Value}")));
            foreach (var buckets in series)
            {
                var ordered = buckets.OrderBy(b => b.Labels["le"] == "+Inf" ? double.PositiveInfinity : double.Parse(b.Labels["le"], CultureInfo.InvariantCulture)).ToList();
                for (var i = 1; i < ordered.Count; i++)
                {
                    if (ordered[i].Value < ordered[i - 1].Value)
                    {
                        throw new FormatException($"{family}{{{buckets.Key}}}: buckets are not cumulative");
                    }
                }

                if (ordered.Count == 0 || ordered[^1].Labels["le"] != "+Inf")
                {
                    throw new FormatException($"{family}{{{buckets.Key}}}: no +Inf bucket");
                }

                var count = scrape.Samples.FirstOrDefault(s => s.Name == family + "_count"
                    && string.Join(",", s.Labels.OrderBy(l => l.Key).Select(l => $"{l.Key}={l.Value}")) == buckets.Key);
                if (count is null || count.Value != ordered[^1].Value)
                {
                    throw new FormatException($"{family}{{{buckets.Key}}}: +Inf bucket differs from _count");
                }
            }
        }
    }
}
