using System.Globalization;

namespace Midori.Operator.Tests.KubeApiServer;

/// <summary>One recorded exchange from a <c>.http</c> transcript file: the request and the real server's response.</summary>
internal sealed record HttpTranscript(
    string FileName,
    string Method,
    string PathAndQuery,
    string? ContentType,
    string RequestBody,
    int StatusCode,
    IReadOnlyDictionary<string, string> ResponseHeaders,
    string ResponseBody)
{
    public bool IsWatch => PathAndQuery.Contains("watch=1", StringComparison.Ordinal) || PathAndQuery.Contains("watch=true", StringComparison.Ordinal);

    public static IReadOnlyList<HttpTranscript> LoadAll(string folder)
        => [.. Directory.GetFiles(folder, "*.http").OrderBy(f => f, StringComparer.Ordinal).Select(Parse)];

    /// <summary>
    /// Format: "### title", request line, headers, blank line, optional body, "### response...", status line,
    /// headers, blank line, body (one JSON document, or one JSON event per line for watches).
    /// </summary>
    public static HttpTranscript Parse(string path)
    {
        var lines = File.ReadAllLines(path);
        var responseStart = Array.FindIndex(lines, l => l.StartsWith("### response", StringComparison.Ordinal));
        var request = lines[1..responseStart];
        var response = lines[(responseStart + 1)..];

        var requestLine = request[0].Split(' ', 2);
        var requestBlank = Array.FindIndex(request, l => l.Length == 0);
        var requestHeaders = ParseHeaders(request[1..(requestBlank < 0 ? request.Length : requestBlank)]);
        var requestBody = requestBlank < 0 ? string.Empty : string.Join('\n', request[(requestBlank + 1)..]).Trim();

        var statusCode = int.Parse(response[0].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        var responseBlank = Array.FindIndex(response, l => l.Length == 0);
        var responseHeaders = ParseHeaders(response[1..responseBlank]);
        var responseBody = string.Join('\n', response[(responseBlank + 1)..]).Trim();

        return new HttpTranscript(
            Path.GetFileName(path),
            requestLine[0],
            requestLine[1].Trim(),
            requestHeaders.GetValueOrDefault("content-type"),
            requestBody,
            statusCode,
            responseHeaders,
            responseBody);
    }

    private static Dictionary<string, string> ParseHeaders(IEnumerable<string> lines)
        => lines.Select(l => l.Split(':', 2)).Where(p => p.Length == 2)
            .ToDictionary(p => p[0].Trim().ToLowerInvariant(), p => p[1].Trim(), StringComparer.Ordinal);
}
