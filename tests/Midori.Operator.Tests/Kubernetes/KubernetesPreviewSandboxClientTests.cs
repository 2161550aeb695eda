using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Kubernetes;
using static Midori.Operator.Testing.Fakes.ScriptedPreviewSandboxClient;
using Midori.Operator.Testing;

namespace Midori.Operator.Tests.Kubernetes;

public sealed class KubernetesPreviewSandboxClientTests : IDisposable
{
    private readonly List<(HttpMethod Method, string Path, string? ContentType, string? Body)> _requests = [];
    private Func<HttpRequestMessage, HttpResponseMessage> _respond = _ => new HttpResponseMessage(HttpStatusCode.NotFound);
    private readonly k8s.Kubernetes _kubernetes;
    private readonly KubernetesPreviewSandboxClient _client;

    public KubernetesPreviewSandboxClientTests()
    {
        _kubernetes = new k8s.Kubernetes(new KubernetesClientConfiguration { Host = "http://127.0.0.1:1" }, new StubHandler(this));
        _client = new KubernetesPreviewSandboxClient(_kubernetes);
    }

    public void Dispose() => _kubernetes.Dispose();

    [Fact]
    public void BuildStatusPatch_FieldsRemovedFromStatus_ExplicitlyNulled()
    {
        // arrange
        var old = new PreviewSandboxStatus { Phase = Phases.Running, SandboxId = "sbx-1", LastRecreation = new RecreationRecord { Reason = "manual", OldSandboxId = "sbx-0" } };
        var next = new PreviewSandboxStatus { Phase = Phases.Expired, LastRecreation = new RecreationRecord { Reason = "manual" } };

        // act
        var patch = KubernetesPreviewSandboxClient.BuildStatusPatch(old, next);

        // assert
        Assert.Equal("Expired", patch["phase"]!.GetValue<string>());
        Assert.True(patch.ContainsKey("sandboxId"));
        Assert.Null(patch["sandboxId"]);
        Assert.True(patch["lastRecreation"]!.AsObject().ContainsKey("oldSandboxId"));
        Assert.Null(patch["lastRecreation"]!["oldSandboxId"]);
        Assert.True(patch.ContainsKey("previewUrl"));
    }

    [Fact]
    public async Task GetAsync_NotFound_ReturnsNull()
    {
        // arrange
        _respond = _ => Status(HttpStatusCode.NotFound, "NotFound");

        // act
        var item = await _client.GetAsync("default", "missing", CancellationToken.None).WaitAsync(TestWaits.Bound);

        // assert
        Assert.Null(item);
        Assert.Equal("/apis/preview.midori.dev/v1alpha1/namespaces/default/previewsandboxes/missing", _requests[0].Path);
    }

    [Fact]
    public async Task SetFinalizersAsync_Conflict_ThrowsConflictAndSendsResourceVersionGuard()
    {
        // arrange
        _respond = _ => Status(HttpStatusCode.Conflict, "Conflict");
        var item = Sandbox("a", resourceVersion: "7");

        // act
        var ex = await Assert.ThrowsAsync<KubernetesConflictException>(() => _client.SetFinalizersAsync(item, [GroupVersion.FinalizerName], CancellationToken.None)).WaitAsync(TestWaits.Bound);

        // assert
        Assert.NotNull(ex);
        var body = JsonNode.Parse(_requests[0].Body!)!;
        Assert.Equal("7", body["metadata"]!["resourceVersion"]!.GetValue<string>());
        Assert.Equal(GroupVersion.FinalizerName, body["metadata"]!["finalizers"]![0]!.GetValue<string>());
        Assert.Equal("application/merge-patch+json", _requests[0].ContentType);
    }

    [Fact]
    public async Task PatchStatusAsync_ClearedSandboxId_MergePatchOnStatusSubresourceWithNull()
    {
        // arrange
        var item = Sandbox("a");
        item.Status = new PreviewSandboxStatus { Phase = Phases.Running, SandboxId = "sbx-1" };
        _respond = _ => Json(HttpStatusCode.OK, KubernetesJson.Serialize(item));

        // act
        await _client.PatchStatusAsync(item, new PreviewSandboxStatus { Phase = Phases.Stopped }, CancellationToken.None).WaitAsync(TestWaits.Bound);

        // assert
        Assert.EndsWith("/previewsandboxes/a/status", _requests[0].Path);
        var status = JsonNode.Parse(_requests[0].Body!)!["status"]!.AsObject();
        Assert.True(status.ContainsKey("sandboxId"));
        Assert.Null(status["sandboxId"]);
    }

    [Fact]
    public async Task WatchAsync_ErrorEventWithStatus410_ThrowsResourceVersionExpired()
    {
        // arrange
        _respond = _ => Json(HttpStatusCode.OK,
            """{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old","reason":"Expired","code":410}}""" + "\n");

        // act / assert
        await Assert.ThrowsAsync<ResourceVersionExpiredException>(() => DrainAsync(_client.WatchAsync(null, "5", TimeSpan.FromMinutes(5), CancellationToken.None))).WaitAsync(TestWaits.Bound);
        Assert.Contains("watch=true", _requests[0].Path + _requests[0].Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WatchAsync_Http410_ThrowsResourceVersionExpired()
    {
        // arrange
        _respond = _ => Status(HttpStatusCode.Gone, "Expired");

        // act / assert
        await Assert.ThrowsAsync<ResourceVersionExpiredException>(() => DrainAsync(_client.WatchAsync("default", "5", TimeSpan.FromMinutes(5), CancellationToken.None))).WaitAsync(TestWaits.Bound);
    }

    [Fact]
    public async Task WatchAsync_EventsAndBookmark_SurfacedInOrderThenStreamEnds()
    {
        // arrange
        var item = KubernetesJson.Serialize(Sandbox("a", resourceVersion: "11"));
        _respond = _ => Json(HttpStatusCode.OK,
            $$"""{"type":"ADDED","object":{{item}}}""" + "\n" +
            """{"type":"BOOKMARK","object":{"kind":"PreviewSandbox","apiVersion":"preview.midori.dev/v1alpha1","metadata":{"resourceVersion":"12"}}}""" + "\n");

        // act
        var events = await DrainAsync(_client.WatchAsync("default", "10", TimeSpan.FromSeconds(90), CancellationToken.None)).WaitAsync(TestWaits.Bound);

        // assert
        Assert.Equal(2, events.Count);
        Assert.Equal(WatchEventType.Added, events[0].Type);
        Assert.Equal("a", events[0].Object!.Metadata.Name);
        Assert.Equal(WatchEventType.Bookmark, events[1].Type);
        Assert.Null(events[1].Object);
        Assert.Equal("12", events[1].ResourceVersion);
        Assert.Contains("allowWatchBookmarks=true", _requests[0].Path, StringComparison.Ordinal);
        Assert.Contains("resourceVersion=10", _requests[0].Path, StringComparison.Ordinal);
        Assert.Contains("timeoutSeconds=90", _requests[0].Path, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApplyTokenSecretAsync_NewSecret_CreatedWithControllerOwnerReference()
    {
        // arrange
        _respond = r => Json(HttpStatusCode.Created, r.Content!.ReadAsStringAsync().GetAwaiter().GetResult());
        var owner = Sandbox("a");

        // act
        await _client.ApplyTokenSecretAsync(owner, "a-token", "token", "s3cret", CancellationToken.None).WaitAsync(TestWaits.Bound);

        // assert
        var secret = JsonNode.Parse(_requests[0].Body!)!;
        Assert.Equal(HttpMethod.Post, _requests[0].Method);
        Assert.Equal("Opaque", secret["type"]!.GetValue<string>());
        var reference = secret["metadata"]!["ownerReferences"]![0]!;
        Assert.True(reference["controller"]!.GetValue<bool>());
        Assert.True(reference["blockOwnerDeletion"]!.GetValue<bool>());
        Assert.Equal(owner.Metadata.Uid, reference["uid"]!.GetValue<string>());
        Assert.Equal(Convert.ToBase64String(Encoding.UTF8.GetBytes("s3cret")), secret["data"]!["token"]!.GetValue<string>());
    }

    private static async Task<List<PreviewSandboxWatchEvent>> DrainAsync(IAsyncEnumerable<PreviewSandboxWatchEvent> events)
    {
        var list = new List<PreviewSandboxWatchEvent>();
        await foreach (var e in events)
        {
            list.Add(e);
        }

        return list;
    }

    private static HttpResponseMessage Status(HttpStatusCode code, string reason) =>
        Json(code, $$"""{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"{{reason}}","reason":"{{reason}}","code":{{(int)code}}}""");

    private static HttpResponseMessage Json(HttpStatusCode code, string body) =>
        new(code) { Content = new StringContent(body, Encoding.UTF8, "application/json") };

    private sealed class StubHandler(KubernetesPreviewSandboxClientTests test) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken);
            test._requests.Add((request.Method, request.RequestUri!.PathAndQuery.Split('?')[0] + (request.RequestUri.Query.Length > 0 ? "?" + request.RequestUri.Query.TrimStart('?') : string.Empty), request.Content?.Headers.ContentType?.MediaType, body));
            var response = test._respond(request);
            response.RequestMessage = request;
            return response;
        }
    }
}
