using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using Midori.DevApiServer;

namespace Midori.Operator.Tests.KubeApiServer;

/// <summary>
/// Replays what kubectl 1.32 sent to a real kube-apiserver v1.26 (../shared/k8s-transcripts/kubectl, files 01–20 in order
/// against one server, then the extras that do not need a proxy-made condition) and compares the answers: resources exactly
/// (minus volatile metadata), Tables with their columns and cells (ages masked; <c>&lt;invalid&gt;</c> checked), discovery and
/// OpenAPI as subsets of the real server's (this server serves fewer groups), the CRD's OpenAPI schema exactly.
/// Direct changes the recording made beside kubectl are replayed at the same place (during a watch: while it is open).
/// </summary>
public sealed class KubectlTranscriptReplayTests
{
    private static readonly TimeSpan StreamTimeout = TimeSpan.FromSeconds(30);

    // 27–32 ran behind a proxy that answered /openapi/* with 404 itself: the server's behaviour is not what they record.
    // 33: the proxy reported v1.30 to see which kubectl the gcloud dispatcher runs.
    private static readonly string[] ProxyMadeConditions = ["27-", "28-", "29-", "30-", "31-", "32-", "33-"];

    private readonly Dictionary<string, string> _resourceVersions = new(StringComparer.Ordinal);

    [Fact]
    public async Task Replay_KubectlTranscripts_MatchTheRealApiServer()
    {
        // arrange: the recording's clock (so a future expiresAt prints "<invalid>" as recorded), legacy discovery as 1.26 answered
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-01T22:30:00Z", System.Globalization.CultureInfo.InvariantCulture));
        await using var server = await DevKubeApiServer.StartAsync(new DevKubeApiServerOptions { TimeProvider = time, AggregatedDiscoveryVersions = [] });
        await using var aggregated = await DevKubeApiServer.StartAsync(new DevKubeApiServerOptions { TimeProvider = time, AggregatedDiscoveryVersions = ["v2beta1"] });
        var files = Directory.GetFiles(Path.Combine(RepoPaths.Transcripts, "kubectl"), "*.http").Order(StringComparer.Ordinal).ToList();
        // The CRD the real server held when these were recorded (kubectl's apply in 01), not today's: ours has since gained
        // printer columns and descriptions, which the recorded Table and OpenAPI answers cannot know.
        var recordedCrd = KubectlTranscript.Parse(files.First(f => Path.GetFileName(f).StartsWith("01-", StringComparison.Ordinal)))
            .OfType<KubectlExchange>()
            .First(e => e.Method == "POST" && e.Path == "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
            .RequestBody;
        var failures = new List<string>();
        var compared = 0;

        // act
        foreach (var file in files)
        {
            var name = Path.GetFileName(file);
            if (ProxyMadeConditions.Any(p => name.StartsWith(p, StringComparison.Ordinal)))
            {
                continue;
            }

            var target = name.StartsWith("34-", StringComparison.Ordinal) ? aggregated : server;
            if (target == aggregated)
            {
                // Recorded on a server holding the CRD and the sample.
                target.ApplyCrdYaml(recordedCrd);
                var sample = Midori.DevApiServer.YamlToJson.ConvertDocuments(await File.ReadAllTextAsync(Path.Combine(RepositoryRoot, "config", "samples", "preview.midori.dev_v1alpha1_previewsandbox.yaml"))).Single();
                using var create = new HttpClient { BaseAddress = target.BaseAddress };
                using var created = await SendAsync(create, target, "POST", "/apis/preview.midori.dev/v1alpha1/namespaces/default/previewsandboxes", sample.ToJsonString(), "application/json", "application/json");
                Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
            }

            if (name.StartsWith("26-", StringComparison.Ordinal))
            {
                // Recorded after the CRD was deleted and re-created directly: no PreviewSandbox exists.
                using var recreate = new HttpClient { BaseAddress = target.BaseAddress };
                using (await SendAsync(recreate, target, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/previewsandboxes.preview.midori.dev", "", null, "application/json"))
                {
                }

                target.ApplyCrdYaml(recordedCrd);
            }

            using var http = new HttpClient { BaseAddress = target.BaseAddress };
            var items = KubectlTranscript.Parse(file);
            for (var i = 0; i < items.Count; i++)
            {
                switch (items[i])
                {
                    case KubectlDirectChange change when !(name.StartsWith("26-", StringComparison.Ordinal) || name.StartsWith("34-", StringComparison.Ordinal)):
                        using (var response = await SendAsync(http, target, change.Method, change.Path, MapBody(change.Body), change.ContentType, "application/json"))
                        {
                            Assert.True(response.IsSuccessStatusCode, $"{name}: direct {change.Method} {change.Path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                        }

                        break;
                    case KubectlExchange exchange when exchange.IsWatch:
                        var during = items.Skip(i + 1).TakeWhile(x => x is not KubectlExchange).OfType<KubectlDirectChange>().ToList();
                        i += items.Skip(i + 1).TakeWhile(x => x is not KubectlExchange).Count();
                        compared++;
                        if (await ReplayWatchAsync(http, target, exchange, during) is { } watchProblem)
                        {
                            failures.Add($"{name} [{exchange.Number}] {exchange.Method} {exchange.PathAndQuery}: {watchProblem}");
                        }

                        break;
                    case KubectlExchange exchange:
                        var reference = exchange.ResponseHeaders.GetValueOrDefault("content-type", "").Contains("protobuf", StringComparison.Ordinal)
                            ? items.Skip(i + 1).OfType<KubectlNote>().Select(n => JsonReference(n.Text)).FirstOrDefault(j => j is not null)
                            : null;
                        compared++;
                        if (await ReplayAsync(http, target, exchange, reference) is { } problem)
                        {
                            failures.Add($"{name} [{exchange.Number}] {exchange.Method} {exchange.PathAndQuery}: {problem}");
                        }

                        break;
                }
            }
        }

        // assert
        Assert.True(files.Count >= 34, $"expected the 34 kubectl transcripts, found {files.Count}");
        Assert.True(compared > 500, $"compared only {compared} exchanges");
        Assert.True(failures.Count == 0, $"{failures.Count} of {compared} exchanges differ:{Environment.NewLine}{string.Join(Environment.NewLine, failures)}");
    }

    private static string RepositoryRoot => Midori.Operator.Testing.RepositoryPaths.Root;

    private async Task<string?> ReplayAsync(HttpClient http, DevKubeApiServer server, KubectlExchange exchange, JsonNode? reference)
    {
        var path = exchange.PathAndQuery;
        if (path.StartsWith("/openapi/v3/", StringComparison.Ordinal))
        {
            // The hash is the server's own: take the URL from this server's index.
            var index = JsonNode.Parse(await (await SendAsync(http, server, "GET", "/openapi/v3", "", null, "application/json")).Content.ReadAsStringAsync())!;
            var key = exchange.Path["/openapi/v3/".Length..];
            path = (string?)index["paths"]?[key]?["serverRelativeURL"] ?? exchange.Path;
        }

        using var response = await SendAsync(http, server, exchange.Method, MapQuery(path), MapBody(exchange.RequestBody),
            exchange.RequestHeaders.GetValueOrDefault("content-type"), exchange.RequestHeaders.GetValueOrDefault("accept", "application/json"),
            exchange.RequestHeaders.GetValueOrDefault("user-agent", "kubectl/v1.32.4").Split(' ')[0]);
        var body = await response.Content.ReadAsStringAsync();
        var code = (int)response.StatusCode;

        if (exchange.Path == "/openapi/v2")
        {
            // Not served (kubectl falls back to v3 for everything it needs, as the recording of a server without v2 shows).
            return code == 404 ? null : $"expected 404 for /openapi/v2, got {code}";
        }

        if (IsGroupVersionDiscovery(exchange.Path) && exchange.StatusCode == 200 && code == 404)
        {
            // A group this server does not serve: it is not listed in /apis either (checked there), so kubectl never asks.
            return null;
        }

        if (code != exchange.StatusCode)
        {
            return $"status: expected {exchange.StatusCode}, actual {code}: {Truncate(body)}";
        }

        if (exchange.ResponseHeaders.TryGetValue("warning", out var expectedWarning))
        {
            var actualWarning = response.Headers.TryGetValues("Warning", out var values) ? string.Join(", ", values) : "<none>";
            if (actualWarning != expectedWarning)
            {
                return $"warning header: expected {expectedWarning}, actual {actualWarning}";
            }
        }

        if (exchange.ResponseHeaders.GetValueOrDefault("content-type", "").StartsWith("application/json;g=apidiscovery", StringComparison.Ordinal)
            && response.Content.Headers.ContentType?.ToString().Replace(" ", "", StringComparison.Ordinal) != exchange.ResponseHeaders["content-type"])
        {
            return $"content type: expected {exchange.ResponseHeaders["content-type"]}, actual {response.Content.Headers.ContentType}";
        }

        var expected = reference ?? (exchange.ResponseBody.StartsWith('{') ? JsonNode.Parse(exchange.ResponseBody) : null);
        if (expected is null)
        {
            return null;
        }

        var actual = JsonNode.Parse(body);
        LearnResourceVersions(expected, actual);
        return exchange.Path switch
        {
            "/version" => CompareFields(expected, actual, "major", "minor", "gitVersion"),
            "/api" or "/apis" => DiscoveryComparison.Subset(expected, actual),
            _ when IsGroupVersionDiscovery(exchange.Path) => DiscoveryComparison.Subset(expected, actual),
            "/openapi/v3" => DiscoveryComparison.IndexSubset(expected, actual),
            _ when exchange.Path.StartsWith("/openapi/v3/", StringComparison.Ordinal) => DiscoveryComparison.OpenApiDocument(expected, actual),
            _ when (string?)expected["kind"] == "Table" => JsonComparison.FindDifference(TableMask.Mask(expected), TableMask.Mask(actual)),
            _ => JsonComparison.FindDifference(TableMask.MaskTransitionTimes(expected), TableMask.MaskTransitionTimes(actual)) ?? ManagedFieldsDifference(expected, actual),
        };
    }

    /// <summary>
    /// managedFields of PreviewSandboxes, entry by entry (who, how, which fields, whether a time is set); compared as a set,
    /// since entries of one operation are ordered by their times, which the replay's fixed clock makes all equal.
    /// </summary>
    private static string? ManagedFieldsDifference(JsonNode? expected, JsonNode? actual)
    {
        if ((string?)expected?["kind"] != "PreviewSandbox")
        {
            return null;
        }

        static JsonArray Entries(JsonNode? obj)
        {
            var entries = (obj?["metadata"]?["managedFields"] as JsonArray ?? []).OfType<JsonObject>().Select(e =>
            {
                var copy = (JsonObject)e.DeepClone();
                if (copy.ContainsKey("time"))
                {
                    copy["time"] = "<set>";
                }

                return copy;
            });
            return new JsonArray([.. entries.OrderBy(e => $"{e["manager"]}|{e["operation"]}|{e["subresource"]}", StringComparer.Ordinal)]);
        }

        return JsonComparison.FindDifference(Entries(expected), Entries(actual), "$.metadata.managedFields");
    }

    private async Task<string?> ReplayWatchAsync(HttpClient http, DevKubeApiServer server, KubectlExchange exchange, IReadOnlyList<KubectlDirectChange> during)
    {
        var expectedEvents = exchange.ResponseBody.Split('\n').Where(l => l.StartsWith('{')).Select(l => JsonNode.Parse(l)!).ToList();
        using var cts = new CancellationTokenSource(StreamTimeout);
        using var request = new HttpRequestMessage(HttpMethod.Get, MapQuery(exchange.PathAndQuery));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token);
        request.Headers.TryAddWithoutValidation("Accept", exchange.RequestHeaders.GetValueOrDefault("accept", "application/json"));
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        if ((int)response.StatusCode != exchange.StatusCode)
        {
            return $"status: expected {exchange.StatusCode}, actual {(int)response.StatusCode}";
        }

        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
        foreach (var change in during)
        {
            using var changed = await SendAsync(http, server, change.Method, change.Path, MapBody(change.Body), change.ContentType, "application/json");
            if (!changed.IsSuccessStatusCode)
            {
                return $"direct {change.Method} during the watch failed: {(int)changed.StatusCode} {await changed.Content.ReadAsStringAsync()}";
            }
        }

        for (var i = 0; i < expectedEvents.Count; i++)
        {
            string? line = null;
            try
            {
                while (await reader.ReadLineAsync(cts.Token) is { } l)
                {
                    if (l.Length > 0 && !l.Contains("\"type\":\"BOOKMARK\"", StringComparison.Ordinal))
                    {
                        line = l;
                        break;
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }

            if (line is null)
            {
                return $"got {i} of {expectedEvents.Count} events";
            }

            var actual = JsonNode.Parse(line)!;
            var expected = expectedEvents[i];
            LearnResourceVersions(expected["object"], actual["object"]);
            var difference = (string?)expected["object"]?["kind"] == "Table"
                ? JsonComparison.FindDifference(TableMask.Mask(expected), TableMask.Mask(actual), $"event[{i}]")
                : JsonComparison.FindDifference(expected, actual, $"event[{i}]") ?? ManagedFieldsDifference(expected["object"], actual["object"]);
            if (difference is not null)
            {
                return difference;
            }
        }

        return null;
    }

    private static bool IsGroupVersionDiscovery(string path)
        => path.Split('/', StringSplitOptions.RemoveEmptyEntries) is ["api", _] or ["apis", _, _] or ["apis", _];

    private static string? CompareFields(JsonNode expected, JsonNode? actual, params string[] fields)
        => fields.Select(f => JsonNode.DeepEquals(expected[f], actual?[f]) ? null : $"{f}: expected {expected[f]}, actual {actual?[f]}").FirstOrDefault(d => d is not null);

    // The note after a protobuf answer holds the same list fetched as JSON.
    private static JsonNode? JsonReference(string note)
    {
        var start = note.IndexOf("\n{", StringComparison.Ordinal);
        if (!note.Contains("Accept: application/json", StringComparison.Ordinal) || start < 0)
        {
            return null;
        }

        var json = note[(start + 1)..];
        return JsonNode.Parse(json[..(json.LastIndexOf('}') + 1)]);
    }

    // The recording's direct changes were made with curl: their field manager is "curl" (the User-Agent's first word).
    private const string CurlUserAgent = "curl/8.5.0";

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, DevKubeApiServer server, string method, string pathAndQuery, string body, string? contentType, string accept, string userAgent = CurlUserAgent)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), pathAndQuery);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token);
        request.Headers.TryAddWithoutValidation("User-Agent", userAgent);
        request.Headers.TryAddWithoutValidation("Accept", accept);
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
            _resourceVersions[recorded.ToString()] = ours.ToString();
        }

        foreach (var collection in new[] { "items", "rows" })
        {
            if (expected?[collection] is JsonArray expectedItems && actual?[collection] is JsonArray actualItems)
            {
                foreach (var (e, a) in expectedItems.Zip(actualItems))
                {
                    LearnResourceVersions(e?["object"] ?? e, a?["object"] ?? a);
                }
            }
        }
    }

    private string MapQuery(string pathAndQuery)
        => System.Text.RegularExpressions.Regex.Replace(pathAndQuery, "(resourceVersion=)(\\d+)", m => m.Groups[1].Value + MapVersion(m.Groups[2].Value));

    // Structural: "resourceVersion" members and JSON-patch values at /metadata/resourceVersion.
    private string MapBody(string body)
    {
        if (body.Length == 0 || !(body.StartsWith('{') || body.StartsWith('[')))
        {
            return body;
        }

        var node = JsonNode.Parse(body)!;
        Map(node);
        return node.ToJsonString();

        void Map(JsonNode? n)
        {
            switch (n)
            {
                case JsonObject o:
                    if (o["resourceVersion"] is JsonValue rv && rv.TryGetValue<string>(out var recorded))
                    {
                        o["resourceVersion"] = MapVersion(recorded);
                    }

                    if (o["path"] is JsonValue path && path.TryGetValue<string>(out var pointer) && pointer == "/metadata/resourceVersion" && o["value"] is JsonValue v && v.TryGetValue<string>(out var value))
                    {
                        o["value"] = MapVersion(value);
                    }

                    foreach (var child in o.Select(p => p.Value).ToList())
                    {
                        Map(child);
                    }

                    break;
                case JsonArray a:
                    foreach (var child in a)
                    {
                        Map(child);
                    }

                    break;
            }
        }
    }

    private string MapVersion(string recorded) => _resourceVersions.GetValueOrDefault(recorded, recorded);

    private static string Truncate(string s) => s.Length > 400 ? s[..400] + "…" : s;
}
