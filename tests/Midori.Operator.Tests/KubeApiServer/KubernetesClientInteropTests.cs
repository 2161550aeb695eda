using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.LeaderElection;
using k8s.LeaderElection.ResourceLock;
using k8s.Models;
using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Api.V1Alpha1;
using Midori.DevApiServer;
using Midori.Operator.Testing;

namespace Midori.Operator.Tests.KubeApiServer;

/// <summary>The test API server driven by the real KubernetesClient: typed watches, bookmarks, 410 relist, timeouts, leases.</summary>
public sealed class KubernetesClientInteropTests : IAsyncLifetime
{
    private static readonly TimeSpan EventTimeout = TestWaits.Bound;

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero));
    private DevKubeApiServer _server = null!;
    private k8s.Kubernetes _client = null!;

    public async Task InitializeAsync()
    {
        _server = await DevKubeApiServer.StartAsync(new DevKubeApiServerOptions { TimeProvider = _time, BookmarkInterval = TimeSpan.FromMinutes(1) });
        await _server.ApplyCrdAsync(RepoPaths.ProjectCrd);
        _client = new k8s.Kubernetes(_server.CreateClientConfiguration());
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task Watch_FromListResourceVersionWithBookmarks_DeliversBookmarksAndChanges()
    {
        // arrange
        await CreateSandboxAsync("a");
        var list = await _client.CustomObjects.ListNamespacedCustomObjectAsync<V1Alpha1PreviewSandboxList>(GroupVersion.Group, GroupVersion.Version, "default", GroupVersion.Plural);
        using var cts = new CancellationTokenSource(EventTimeout);
        await using var events = Watch(list.Metadata.ResourceVersion, cts.Token).GetAsyncEnumerator(cts.Token);

        // act
        var initialBookmark = await NextAsync(events);
        await _client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch("""{"spec":{"suspend":true}}""", V1Patch.PatchType.MergePatch), GroupVersion.Group, GroupVersion.Version, "default", GroupVersion.Plural, "a", cancellationToken: cts.Token);
        var modified = await NextAsync(events);
        _time.Advance(TimeSpan.FromMinutes(1));
        var periodicBookmark = await NextAsync(events);

        // assert
        Assert.Equal(WatchEventType.Bookmark, initialBookmark.Type);
        Assert.Equal(list.Metadata.ResourceVersion, initialBookmark.Object.Metadata.ResourceVersion);
        Assert.Equal(WatchEventType.Modified, modified.Type);
        Assert.True(modified.Object.Spec.Suspend);
        Assert.Equal(2, modified.Object.Metadata.Generation);
        Assert.Equal(WatchEventType.Bookmark, periodicBookmark.Type);
        Assert.Equal(modified.Object.Metadata.ResourceVersion, periodicBookmark.Object.Metadata.ResourceVersion);
    }

    [Fact]
    public async Task Watch_FromCompactedResourceVersion_ReportsExpiredThenRelistSucceeds()
    {
        // arrange
        var created = await CreateSandboxAsync("a");
        await CreateSandboxAsync("b");
        _server.Compact();
        using var cts = new CancellationTokenSource(EventTimeout);
        var errors = new List<Exception>();

        // act
        await foreach (var unexpected in Watch(created.Metadata.ResourceVersion, cts.Token, errors.Add))
        {
            Assert.Fail($"no event expected before the 410, got {unexpected.Type}");
        }

        var relist = await _client.CustomObjects.ListNamespacedCustomObjectAsync<V1Alpha1PreviewSandboxList>(GroupVersion.Group, GroupVersion.Version, "default", GroupVersion.Plural, cancellationToken: cts.Token);
        await using var events = Watch(relist.Metadata.ResourceVersion, cts.Token).GetAsyncEnumerator(cts.Token);
        _ = await NextAsync(events); // initial bookmark
        await CreateSandboxAsync("c");
        var added = await NextAsync(events);

        // assert
        var expired = Assert.IsType<KubernetesException>(Assert.Single(errors));
        Assert.Equal(410, expired.Status.Code);
        Assert.Equal("Expired", expired.Status.Reason);
        Assert.Equal(2, relist.Items.Count);
        Assert.Equal(WatchEventType.Added, added.Type);
        Assert.Equal("c", added.Object.Metadata.Name);
    }

    [Fact]
    public async Task Watch_FromEmptyResourceVersion_SendsSyntheticAddedForExistingObjects()
    {
        // arrange
        await CreateSandboxAsync("a");
        await CreateSandboxAsync("b");
        using var cts = new CancellationTokenSource(EventTimeout);
        await using var events = Watch(resourceVersion: null, cts.Token).GetAsyncEnumerator(cts.Token);

        // act
        var first = await NextAsync(events);
        var second = await NextAsync(events);

        // assert
        Assert.Equal((WatchEventType.Added, "a"), (first.Type, first.Object.Metadata.Name));
        Assert.Equal((WatchEventType.Added, "b"), (second.Type, second.Object.Metadata.Name));
    }

    [Fact]
    public async Task Watch_TimeoutSecondsElapsed_ServerClosesStream()
    {
        // arrange
        using var http = new HttpClient { BaseAddress = _server.BaseAddress };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/apis/preview.midori.dev/v1alpha1/namespaces/default/previewsandboxes?watch=true&timeoutSeconds=30");
        request.Headers.Authorization = new("Bearer", _server.Token);
        using var cts = new CancellationTokenSource(EventTimeout);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
        var end = reader.ReadToEndAsync(cts.Token);

        // act
        _time.Advance(TimeSpan.FromSeconds(31));
        var rest = await end;

        // assert
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal(string.Empty, rest);
    }

    [Fact]
    public async Task Watch_LabelSelector_TranslatesLeavingSelectionIntoDeleted()
    {
        // arrange
        await CreateSandboxAsync("a", labels: """{"tier":"web"}""");
        using var cts = new CancellationTokenSource(EventTimeout);
        var watch = _client.CustomObjects.WatchListNamespacedCustomObjectAsync(
            GroupVersion.Group, GroupVersion.Version, "default", GroupVersion.Plural, labelSelector: "tier=web", cancellationToken: cts.Token);
        await using var events = watch.GetAsyncEnumerator(cts.Token);

        // act
        Assert.True(await events.MoveNextAsync());
        var added = events.Current.Item1;
        await _client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch("""{"metadata":{"labels":{"tier":"db"}}}""", V1Patch.PatchType.MergePatch), GroupVersion.Group, GroupVersion.Version, "default", GroupVersion.Plural, "a", cancellationToken: cts.Token);
        Assert.True(await events.MoveNextAsync());

        // assert
        Assert.Equal(WatchEventType.Added, added);
        Assert.Equal(WatchEventType.Deleted, events.Current.Item1);
    }

    [Fact]
    public async Task LeaseLock_CreateThenUpdate_RoundTripsThroughServer()
    {
        // arrange
        var leaseLock = new LeaseLock(_client, "default", "midori-leader", "pod-a");
        var record = new LeaderElectionRecord
        {
            HolderIdentity = "pod-a",
            LeaseDurationSeconds = 15,
            AcquireTime = _time.GetUtcNow().UtcDateTime,
            RenewTime = _time.GetUtcNow().UtcDateTime,
        };

        // act
        var created = await leaseLock.CreateAsync(record);
        var read = await leaseLock.GetAsync();
        var updated = await leaseLock.UpdateAsync(new LeaderElectionRecord
        {
            HolderIdentity = "pod-a",
            LeaseDurationSeconds = 15,
            AcquireTime = record.AcquireTime,
            RenewTime = record.RenewTime.Value.AddSeconds(5),
        });
        var lease = _server.GetObject("coordination.k8s.io", "v1", "leases", "default", "midori-leader")!;

        // assert
        Assert.True(created);
        Assert.Equal("pod-a", read.HolderIdentity);
        Assert.True(updated);
        Assert.Equal("pod-a", (string?)lease["spec"]!["holderIdentity"]);
        Assert.Equal(3, _server.Requests.Entries.Count(r => r.IsWrite || r.Path.EndsWith("/midori-leader", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Lease_ReplaceWithStaleResourceVersion_Returns409()
    {
        // arrange
        var lease = await _client.CoordinationV1.CreateNamespacedLeaseAsync(
            new V1Lease { Metadata = new V1ObjectMeta { Name = "l" }, Spec = new V1LeaseSpec { HolderIdentity = "a" } }, "default");
        lease.Spec.HolderIdentity = "b";
        await _client.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, "l", "default");
        lease.Spec.HolderIdentity = "c";

        // act
        var error = await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, "l", "default"));

        // assert
        Assert.Equal(409, (int)error.Response.StatusCode);
    }

    [Fact]
    public async Task DeleteCustomObject_WithoutFinalizers_ClientAcceptsSuccessStatus()
    {
        // arrange
        await CreateSandboxAsync("a");

        // act
        var result = await _client.CustomObjects.DeleteNamespacedCustomObjectAsync(GroupVersion.Group, GroupVersion.Version, "default", GroupVersion.Plural, "a");

        // assert
        Assert.Contains("\"status\":\"Success\"", KubernetesJson.Serialize(result), StringComparison.Ordinal);
        Assert.Null(_server.GetObject(GroupVersion.Group, GroupVersion.Version, GroupVersion.Plural, "default", "a"));
    }

    [Fact]
    public async Task DeleteOwner_OwnedSecret_IsGarbageCollectedInBackground()
    {
        // arrange
        var owner = await CreateSandboxAsync("a");
        var secret = await _client.CoreV1.CreateNamespacedSecretAsync(
            new V1Secret
            {
                Metadata = new V1ObjectMeta
                {
                    Name = "a-token",
                    OwnerReferences = [new V1OwnerReference { ApiVersion = GroupVersion.ApiVersion, Kind = GroupVersion.Kind, Name = "a", Uid = owner.Metadata.Uid, Controller = true }],
                },
                StringData = new Dictionary<string, string> { ["token"] = "abc" },
            },
            "default");
        using var cts = new CancellationTokenSource(EventTimeout);
        var secretEvents = _client.CoreV1.WatchListNamespacedSecretAsync("default", resourceVersion: secret.Metadata.ResourceVersion, cancellationToken: cts.Token);

        // act
        await _client.CustomObjects.DeleteNamespacedCustomObjectAsync(GroupVersion.Group, GroupVersion.Version, "default", GroupVersion.Plural, "a", cancellationToken: cts.Token);
        var (type, deleted) = await secretEvents.FirstAsync(cts.Token);

        // assert
        Assert.Equal((WatchEventType.Deleted, "a-token"), (type, deleted.Metadata.Name));
    }

    private async Task<V1Alpha1PreviewSandbox> CreateSandboxAsync(string name, string labels = "{}")
    {
        var body = JsonNode.Parse("""{"apiVersion":"preview.midori.dev/v1alpha1","kind":"PreviewSandbox","spec":{"projectId":"p","source":{"snapshotId":"s"}}}""")!;
        body["metadata"] = new JsonObject { ["name"] = name, ["labels"] = JsonNode.Parse(labels) };
        return await _client.CustomObjects.CreateNamespacedCustomObjectAsync<V1Alpha1PreviewSandbox>(body, GroupVersion.Group, GroupVersion.Version, "default", GroupVersion.Plural);
    }

#pragma warning disable CS0618 // The typed custom-object watch with resourceVersion and bookmarks only exists on this obsolete overload.
    private IAsyncEnumerable<(WatchEventType Type, V1Alpha1PreviewSandbox Object)> Watch(string? resourceVersion, CancellationToken cancellationToken, Action<Exception>? onError = null)
        => _client.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync(
                GroupVersion.Group, GroupVersion.Version, "default", GroupVersion.Plural,
                allowWatchBookmarks: true, resourceVersion: resourceVersion, watch: true, cancellationToken: cancellationToken)
            .WatchAsync<V1Alpha1PreviewSandbox, object>(onError, cancellationToken);
#pragma warning restore CS0618

    private static async Task<(WatchEventType Type, V1Alpha1PreviewSandbox Object)> NextAsync(IAsyncEnumerator<(WatchEventType, V1Alpha1PreviewSandbox)> events)
    {
        Assert.True(await events.MoveNextAsync(), "watch ended before the expected event");
        return events.Current;
    }
}
