using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Midori.DevApiServer;
using Midori.Operator.Testing;

namespace Midori.Operator.Tests.KubeApiServer;

/// <summary>
/// Replays every recorded real-apiserver exchange (../shared/k8s-transcripts, in file order, against one server since
/// later files build on earlier ones) and compares status codes, bodies (minus volatile metadata) and warnings.
/// Recorded resourceVersions are mapped to the ones this server handed out at the same step.
/// </summary>
public sealed partial class TranscriptReplayTests
{
    private static readonly TimeSpan StreamTimeout = TestWaits.Bound;

    private readonly Dictionary<string, string> _resourceVersions = new(StringComparer.Ordinal);

    [Fact]
    public async Task Replay_AllRecordedTranscripts_MatchRealApiServer()
    {
        // arrange
        var transcripts = HttpTranscript.LoadAll(RepoPaths.Transcripts);
        await using var server = await DevKubeApiServer.StartAsync();
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        var failures = new List<string>();

        // act
        foreach (var transcript in transcripts)
        {
            PrepareServerFor(server, transcript);
            var problem = transcript.IsWatch
                ? await ReplayWatchAsync(http, server, transcript)
                : await ReplayRequestAsync(http, server, transcript);
            if (problem is not null)
            {
                failures.Add($"{transcript.FileName}: {problem}");
            }
        }

        // assert
        Assert.True(transcripts.Count >= 27, $"expected the 27 recorded transcripts, found {transcripts.Count}");
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }

    // Server state the recordings imply but cannot show as a request.
    private static void PrepareServerFor(DevKubeApiServer server, HttpTranscript transcript)
    {
        if (transcript.FileName.StartsWith("21-", StringComparison.Ordinal))
        {
            // etcd was compacted past the replayed version, which the watch cache still holds.
            server.Compact(keepWatchCache: true);
        }

        if (transcript.FileName.StartsWith("27-", StringComparison.Ordinal))
        {
            server.WatchCacheEnabled = false;
        }
    }

    private async Task<string?> ReplayRequestAsync(HttpClient http, DevKubeApiServer server, HttpTranscript transcript)
    {
        using var response = await SendAsync(http, server, transcript.Method, MapQuery(transcript.PathAndQuery), MapBody(transcript.RequestBody), transcript.ContentType, authenticated: !transcript.FileName.StartsWith("26-", StringComparison.Ordinal));
        var body = await response.Content.ReadAsStringAsync();
        if ((int)response.StatusCode != transcript.StatusCode)
        {
            return $"status: expected {transcript.StatusCode}, actual {(int)response.StatusCode}: {body}";
        }

        var expected = JsonNode.Parse(transcript.ResponseBody);
        var actual = JsonNode.Parse(body);

        // Learn versions even when the bodies differ, so one mismatch does not cascade into later files.
        LearnResourceVersions(expected, actual);
        if (JsonComparison.FindDifference(expected, actual) is { } difference)
        {
            return difference;
        }

        if (transcript.ResponseHeaders.TryGetValue("warning", out var expectedWarning))
        {
            var actualWarning = response.Headers.TryGetValues("Warning", out var values) ? string.Join(", ", values) : "<none>";
            if (actualWarning != expectedWarning)
            {
                return $"warning header: expected {expectedWarning}, actual {actualWarning}";
            }
        }

        return null;
    }

    private async Task<string?> ReplayWatchAsync(HttpClient http, DevKubeApiServer server, HttpTranscript transcript)
    {
        var expectedEvents = transcript.ResponseBody.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        using var cts = new CancellationTokenSource(StreamTimeout);
        using var request = new HttpRequestMessage(HttpMethod.Get, MapQuery(transcript.PathAndQuery));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        if ((int)response.StatusCode != transcript.StatusCode)
        {
            return $"status: expected {transcript.StatusCode}, actual {(int)response.StatusCode}";
        }

        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
        if (transcript.FileName.StartsWith("19-", StringComparison.Ordinal))
        {
            await PerformMutationsRecordedDuringWatch19Async(http, server);
        }

        var differences = new List<string>();
        for (var i = 0; i < expectedEvents.Count; i++)
        {
            string? line;
            try
            {
                line = await ReadEventLineAsync(reader, cts.Token);
            }
            catch (OperationCanceledException)
            {
                line = null;
            }

            if (line is null)
            {
                differences.Add($"got {i} of {expectedEvents.Count} events before the stream ended or {StreamTimeout.TotalSeconds}s passed");
                break;
            }

            var actual = JsonNode.Parse(line);
            LearnResourceVersions(expectedEvents[i]["object"], actual?["object"]);
            if (JsonComparison.FindDifference(expectedEvents[i], actual, $"event[{i}]") is { } difference)
            {
                differences.Add(difference);
            }
        }

        return differences.Count == 0 ? null : string.Join("; ", differences);
    }

    // File 19 records only the watch stream; its events show what happened meanwhile: spec.size set to 6,
    // a DELETE (the finalizer keeps the object), then the finalizer's removal.
    private static async Task PerformMutationsRecordedDuringWatch19Async(HttpClient http, DevKubeApiServer server)
    {
        const string path = "/apis/demo.example.com/v1/namespaces/default/widgets/w1";
        (string Method, string? Body, string? ContentType)[] steps =
        [
            ("PATCH", """{"spec":{"size":6}}""", "application/merge-patch+json"),
            ("DELETE", null, null),
            ("PATCH", """[{"op":"remove","path":"/metadata/finalizers"}]""", "application/json-patch+json"),
        ];
        foreach (var (method, body, contentType) in steps)
        {
            using var response = await SendAsync(http, server, method, path, body ?? string.Empty, contentType, authenticated: true);
            Assert.True(response.IsSuccessStatusCode, $"19: {method} during watch failed with {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }

    // Bookmarks are timing-dependent and absent from the short recordings; everything else must match line by line.
    private static async Task<string?> ReadEventLineAsync(StreamReader reader, CancellationToken cancellationToken)
    {
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length > 0 && !line.Contains("\"type\":\"BOOKMARK\"", StringComparison.Ordinal))
            {
                return line;
            }
        }

        return null;
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, DevKubeApiServer server, string method, string pathAndQuery, string body, string? contentType, bool authenticated)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), pathAndQuery);
        if (authenticated)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token);
        }

        if (body.Length > 0)
        {
            request.Content = new StringContent(body, Encoding.UTF8);
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType ?? "application/json");
        }

        return await http.SendAsync(request);
    }

    private void LearnResourceVersions(JsonNode? expected, JsonNode? actual)
    {
        if (expected?["metadata"]?["resourceVersion"] is JsonValue recorded && actual?["metadata"]?["resourceVersion"] is JsonValue ours)
        {
            _resourceVersions[recorded.GetValue<string>()] = ours.GetValue<string>();
        }

        if (expected?["items"] is JsonArray expectedItems && actual?["items"] is JsonArray actualItems)
        {
            foreach (var (e, a) in expectedItems.Zip(actualItems))
            {
                LearnResourceVersions(e, a);
            }
        }
    }

    private string MapQuery(string pathAndQuery)
        => ResourceVersionQuery().Replace(pathAndQuery, m => m.Groups[1].Value + MapVersion(m.Groups[2].Value));

    private string MapBody(string body)
        => ResourceVersionField().Replace(body, m => m.Groups[1].Value + MapVersion(m.Groups[2].Value) + "\"");

    // Versions this server never saw at a step (like the deliberately stale "1") pass through unchanged.
    private string MapVersion(string recorded) => _resourceVersions.GetValueOrDefault(recorded, recorded);

    [GeneratedRegex("(resourceVersion=)(\\d+)")]
    private static partial Regex ResourceVersionQuery();

    [GeneratedRegex("(\"resourceVersion\":\")(\\d+)\"")]
    private static partial Regex ResourceVersionField();
}
