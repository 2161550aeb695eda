using System.Collections.Concurrent;

namespace Midori.Operator.Benchmarks;

/// <summary>
/// Counts every request a Kubernetes client sends, by verb (get, list, watch, create, update, patch, delete) and
/// resource (plural, with the subresource: <c>previewsandboxes/status</c>). Sits on the operator's own client, so it
/// counts the same way against the test API server and a real cluster.
/// </summary>
internal sealed class CountingHandler : DelegatingHandler
{
    private readonly ConcurrentDictionary<(string Verb, string Resource), long> _counts = new();

    public long Total => _counts.Values.Sum();

    public IReadOnlyDictionary<(string Verb, string Resource), long> Snapshot() => new Dictionary<(string, string), long>(_counts);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.RequestUri is { } uri)
        {
            _counts.AddOrUpdate(Classify(request.Method, uri), 1, static (_, n) => n + 1);
        }

        return base.SendAsync(request, cancellationToken);
    }

    internal static (string Verb, string Resource) Classify(HttpMethod method, Uri uri)
    {
        var segments = uri.AbsolutePath.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);

        // /api/v1/... or /apis/{group}/{version}/...
        var start = segments.Length > 0 && segments[0] == "api" ? 2 : 3;
        var rest = segments.Skip(start).ToArray();
        if (rest is ["namespaces", _, .. var inNamespace] && inNamespace.Length > 0)
        {
            rest = inNamespace;
        }

        var resource = rest switch
        {
            [] => uri.AbsolutePath,
            [var plural] => plural,
            [var plural, _] => plural,
            [var plural, _, var sub, ..] => $"{plural}/{sub}",
        };
        var collection = rest.Length == 1;
        var verb = method.Method switch
        {
            "GET" when uri.Query.Contains("watch=true", StringComparison.OrdinalIgnoreCase) => "watch",
            "GET" when collection => "list",
            "GET" => "get",
            "POST" => "create",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => collection ? "deletecollection" : "delete",
            var other => other.ToLowerInvariant(),
        };
        return (verb, resource);
    }
}
