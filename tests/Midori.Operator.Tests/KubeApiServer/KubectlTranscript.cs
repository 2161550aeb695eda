using System.Globalization;
using System.Text.RegularExpressions;

namespace Midori.Operator.Tests.KubeApiServer;

/// <summary>One item of a kubectl transcript: an exchange kubectl made, or a note (a direct change to the server, kubectl's output).</summary>
internal abstract record KubectlTranscriptItem;

internal sealed record KubectlExchange(
    int Number,
    string Method,
    string PathAndQuery,
    IReadOnlyDictionary<string, string> RequestHeaders,
    string RequestBody,
    int StatusCode,
    IReadOnlyDictionary<string, string> ResponseHeaders,
    string ResponseBody) : KubectlTranscriptItem
{
    public string Path => PathAndQuery.Split('?')[0];

    public bool IsWatch => PathAndQuery.Contains("watch=true", StringComparison.Ordinal);
}

/// <summary>A request made directly against the recorded server (not by kubectl): replayed to keep the state the same.</summary>
internal sealed record KubectlDirectChange(string Method, string Path, string ContentType, string Body) : KubectlTranscriptItem;

internal sealed record KubectlNote(string Text) : KubectlTranscriptItem;

/// <summary>Parser for <c>../shared/k8s-transcripts/kubectl/*.http</c> ("### [N] METHOD path", "### response [N]", "### note").</summary>
internal static partial class KubectlTranscript
{
    public static IReadOnlyList<KubectlTranscriptItem> Parse(string path)
    {
        var lines = File.ReadAllLines(path);
        var items = new List<KubectlTranscriptItem>();
        var starts = lines.Select((l, i) => (l, i)).Where(p => p.l.StartsWith("### ", StringComparison.Ordinal)).Select(p => p.i).Append(lines.Length).ToList();
        for (var s = 0; s < starts.Count - 1; s++)
        {
            var block = lines[starts[s]..starts[s + 1]];
            var title = block[0];
            if (title.StartsWith("### note", StringComparison.Ordinal))
            {
                items.Add(ParseNote(block));
            }
            else if (ExchangeTitle().Match(title) is { Success: true } request && s + 1 < starts.Count - 1
                && lines[starts[s + 1]].StartsWith($"### response [{request.Groups[1].Value}]", StringComparison.Ordinal))
            {
                var response = lines[starts[s + 1]..starts[s + 2]];
                items.Add(ParseExchange(int.Parse(request.Groups[1].Value, CultureInfo.InvariantCulture), block, response));
                s++;
            }
        }

        return items;
    }

    private static KubectlTranscriptItem ParseNote(string[] block)
    {
        var body = block[1..];
        if (body.Length >= 4 && body[0].StartsWith("direct request", StringComparison.Ordinal))
        {
            var requestLine = body[1].Split(' ', 2);
            var contentType = body[2].StartsWith("Content-Type:", StringComparison.Ordinal) ? body[2]["Content-Type:".Length..].Trim() : "application/json";
            var payload = string.Join('\n', body.Skip(3).TakeWhile(l => !l.StartsWith("=>", StringComparison.Ordinal)));
            return new KubectlDirectChange(requestLine[0], requestLine[1].Trim(), contentType, payload.Trim());
        }

        return new KubectlNote(string.Join('\n', body));
    }

    private static KubectlExchange ParseExchange(int number, string[] request, string[] response)
    {
        var requestLine = request[1].Split(' ');
        var blank = Array.FindIndex(request, 1, l => l.Length == 0);
        var requestHeaders = Headers(request[2..(blank < 0 ? request.Length : blank)]);
        var requestBody = blank < 0 ? string.Empty : string.Join('\n', request[(blank + 1)..]).Trim();
        var status = int.Parse(response[1].Split(' ')[1], CultureInfo.InvariantCulture);
        var responseBlank = Array.FindIndex(response, 1, l => l.Length == 0);
        var responseHeaders = Headers(response[2..(responseBlank < 0 ? response.Length : responseBlank)]);
        var responseBody = responseBlank < 0 ? string.Empty : string.Join('\n', response[(responseBlank + 1)..]).Trim();
        return new KubectlExchange(number, requestLine[0], requestLine[1], requestHeaders, requestBody, status, responseHeaders, responseBody);
    }

    private static Dictionary<string, string> Headers(IEnumerable<string> lines)
        => lines.Select(l => l.Split(':', 2)).Where(p => p.Length == 2)
            .GroupBy(p => p[0].Trim().ToLowerInvariant())
            .ToDictionary(g => g.Key, g => g.Last()[1].Trim(), StringComparer.Ordinal);

    [GeneratedRegex(@"^### \[(\d+)\] ([A-Z]+) (\S+)")]
    private static partial Regex ExchangeTitle();
}
