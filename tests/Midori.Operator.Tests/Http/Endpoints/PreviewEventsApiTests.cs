using Midori.Operator.Persistence;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Http.Services;
using Midori.Operator.Runtime;

namespace Midori.Operator.Tests.Http.Endpoints;

/// <summary>GET /previews/{name}/events through the real host: the stream is read as a browser's EventSource would.</summary>
public sealed class PreviewEventsApiTests : IAsyncLifetime
{
    private ApiTestHost _host = null!;

    public async Task InitializeAsync() => _host = await ApiTestHost.StartAsync(startAt: new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero),
        configureServices: services => services.AddSingleton<IActivityStore>(sp => sp.GetRequiredService<IPreviewStore>()));

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Events_StatusThenRecreationProgressThenNewSandbox_AndKeepAliveComments()
    {
        // arrange
        var created = await _host.CreateReadyAsync(ApiTestHost.TeamA, "shop", new { path = "index.html", content = "<h1>v1</h1>" });
        var name = (string)created["name"]!;
        var firstSandbox = (string)created["sandboxId"]!;
        using var client = _host.Client(ApiTestHost.TokenA);
        using var response = await OpenAsync(client, name);
        using var events = new SseReader(await response.Content.ReadAsStreamAsync());

        // assert: headers, reconnect hint, then the current state
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("no-cache", response.Headers.CacheControl?.ToString());
        Assert.Equal("3000", (await events.NextAsync()).Retry);
        var initial = await events.NextEventAsync();
        Assert.Equal(PreviewEventTypes.Status, initial.Event);
        Assert.Equal(Phases.Running, (string)initial.Body()["phase"]!);
        Assert.Equal(firstSandbox, (string)initial.Body()["sandboxId"]!);
        Assert.True((bool)initial.Body()["ready"]!);
        Assert.Equal("running", (string)initial.Body()["document"]!["status"]!);
        Assert.NotNull(initial.Body()["expiresAt"]);
        Assert.Equal(_host.Services.GetRequiredService<PreviewSandboxCache>().All.Single().Metadata.ResourceVersion, initial.Id);

        // act 1: an idle stream gets a keep-alive comment every interval (15 s)
        _host.Time.Advance(TimeSpan.FromSeconds(15));
        var comment = await events.NextAsync();
        Assert.Equal("keep-alive", comment.Comment);

        // act 2: a manual recreation
        await _host.AnnotateAsync(ApiTestHost.TeamA, name, GroupVersion.RecreateAnnotation, "r1");

        // assert 2: seed 001's start → creating → transferring → updating → complete → completed, then the new sandbox
        var seen = new List<SseMessage>();
        SseMessage? newState = null;
        while (newState is null || !seen.Any(e => e.Event == PreviewEventTypes.Recreation && (string)e.Body()["step"]! == "completed"))
        {
            var next = await events.NextEventAsync();
            seen.Add(next);
            if (next.Event == PreviewEventTypes.Status && (string?)next.Body()["sandboxId"] is { } id && id != firstSandbox && (string)next.Body()["phase"]! == Phases.Running)
            {
                newState = next;
            }
        }

        var steps = seen.Where(e => e.Event is PreviewEventTypes.Progress or PreviewEventTypes.Recreation)
            .Select(e => $"{e.Event}:{e.Body()["step"]}:{e.Body()["percentage"]}").ToList();
        Assert.Equal(
            ["recreation:started:", "progress:creating:10", "progress:transferring:40", "progress:updating:70", "progress:complete:100", "recreation:completed:100"],
            steps);
        Assert.All(seen.Where(e => e.Event == PreviewEventTypes.Progress), e => Assert.True((bool)e.Body()["recreating"]!));
        var completed = seen.Single(e => e.Event == PreviewEventTypes.Recreation && (string)e.Body()["step"]! == "completed").Body();
        Assert.Equal((firstSandbox, (string)newState.Body()["sandboxId"]!, RecreationReasons.Manual),
            ((string)completed["oldSandboxId"]!, (string)completed["newSandboxId"]!, (string)completed["reason"]!));
        Assert.Equal(1, (int)newState.Body()["recreations"]!);
        // previewUrl is the gateway's stable URL: the same before and after the new sandbox
        Assert.Equal((string)initial.Body()["previewUrl"]!, (string)newState.Body()["previewUrl"]!);
        Assert.DoesNotContain(firstSandbox, (string)newState.Body()["previewUrl"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Events_ResumeWithLastEventIdOfTheCurrentState_SendsNoStatusAgain()
    {
        // arrange: read the current state once
        var created = await _host.CreateReadyAsync(ApiTestHost.TeamA, "resume", new { path = "a.txt", content = "a" });
        var name = (string)created["name"]!;
        using var client = _host.Client(ApiTestHost.TokenA);
        string currentId;
        using (var first = await OpenAsync(client, name))
        using (var reader = new SseReader(await first.Content.ReadAsStreamAsync()))
        {
            currentId = (await reader.NextEventAsync()).Id!;
        }

        // act: reconnect with that id, and with an old one
        using var upToDate = await OpenAsync(client, name, lastEventId: currentId);
        using var upToDateReader = new SseReader(await upToDate.Content.ReadAsStreamAsync());
        using var stale = await OpenAsync(client, name, lastEventId: "1");
        using var staleReader = new SseReader(await stale.Content.ReadAsStreamAsync());
        await upToDateReader.NextAsync(); // retry hint
        await staleReader.NextAsync();
        var staleFirst = await staleReader.NextAsync();
        _host.Time.Advance(TimeSpan.FromSeconds(15));
        var upToDateFirst = await upToDateReader.NextAsync();

        // assert: the up-to-date client's next block is the keep-alive, the stale one gets the state again
        Assert.Equal("keep-alive", upToDateFirst.Comment);
        Assert.Equal((PreviewEventTypes.Status, currentId), (staleFirst.Event, staleFirst.Id));
    }

    [Fact]
    public async Task Events_BeforeTheIdleCut_SendAnExpiryWarningWithTheRemainingTime()
    {
        // arrange
        var created = await _host.CreateReadyAsync(ApiTestHost.TeamA, "warned", new { path = "a.txt", content = "a" });
        var name = (string)created["name"]!;
        using var client = _host.Client(ApiTestHost.TokenA);
        using var response = await OpenAsync(client, name);
        using var events = new SseReader(await response.Content.ReadAsStreamAsync());
        await events.NextEventAsync();
        var resource = await _host.GetResourceAsync(ApiTestHost.TeamA, name);
        var idleDeadline = SandboxSnapshot.ToOffset(resource.Status!.IdleDeadline!.Value);
        var warnAt = SandboxLifecyclePolicy.WarnAt(SandboxCut.Idle, idleDeadline, resource.Spec)!.Value;

        // act: the clock reaches the heads-up time
        _host.Time.Advance(warnAt - _host.Time.GetUtcNow());

        // assert
        SseMessage warning;
        do
        {
            warning = await events.NextEventAsync();
        }
        while (warning.Event != PreviewEventTypes.ExpiryWarning);

        var body = warning.Body();
        Assert.Equal((ExpiryCuts.Idle, PreviewExpiryWarningEvent.Delete, (int)Math.Ceiling((idleDeadline - warnAt).TotalSeconds)),
            ((string)body["cut"]!, (string)body["outcome"]!, (int)body["remainingSeconds"]!));
        Assert.Equal(idleDeadline, DateTimeOffset.Parse((string)body["cutAt"]!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains("idle timeout", (string)body["message"]!, StringComparison.Ordinal);
        // the anchor is written at the end of the pass that raised the event
        var anchored = await _host.WaitForAsync(ApiTestHost.TeamA, name, r => r?.Status?.LastExpiryWarning is not null);
        Assert.Equal(ExpiryCuts.Idle, anchored!.Status!.LastExpiryWarning!.Cut);
    }

    [Fact]
    public async Task Events_HeartbeatOnlyChanges_AreNotSentButDeletionIsAndEndsTheStream()
    {
        // arrange
        var created = await _host.CreateReadyAsync(ApiTestHost.TeamA, "quiet", new { path = "a.txt", content = "a" });
        var name = (string)created["name"]!;
        using var client = _host.Client(ApiTestHost.TokenA);
        using var response = await OpenAsync(client, name);
        using var events = new SseReader(await response.Content.ReadAsStreamAsync());
        await events.NextEventAsync();

        // act 1: a heartbeat annotation: the object changes (and the reconciler records the activity), the state does not
        _host.Time.Advance(TimeSpan.FromSeconds(1));
        await _host.AnnotateAsync(ApiTestHost.TeamA, name, GroupVersion.HeartbeatAnnotation, "2026-11-23T10:00:01Z");
        await _host.WaitForAsync(ApiTestHost.TeamA, name, 
            r => r?.Status?.LastActivityTime is { } t && SandboxSnapshot.ToOffset(t) == new DateTimeOffset(2026, 11, 23, 10, 0, 1, TimeSpan.Zero));
        _host.Time.Advance(TimeSpan.FromSeconds(14));

        // assert 1: the next block is the keep-alive, not a status event
        var afterHeartbeat = await events.NextAsync();
        Assert.True(afterHeartbeat.Comment == "keep-alive", $"expected the keep-alive, got {afterHeartbeat}");

        // act 2: delete through the API (purge)
        using var delete = await client.DeleteAsync($"{ApiTestHost.Previews(ApiTestHost.TeamA)}/{name}?purge=true");
        Assert.True(delete.IsSuccessStatusCode, await delete.Content.ReadAsStringAsync());

        // assert 2: deleted, then the stream ends
        var deleted = await events.NextEventAsync();
        Assert.Equal(PreviewEventTypes.Deleted, deleted.Event);
        Assert.Equal(name, (string)deleted.Body()["name"]!);
        await Assert.ThrowsAsync<EndOfStreamException>(() => events.NextAsync());
    }

    [Fact]
    public async Task Events_AuthAndNamespaceIsolation_AsTheOtherRoutes()
    {
        // arrange
        var created = await _host.CreateReadyAsync(ApiTestHost.TeamA, "private", new { path = "a.txt", content = "a" });
        var path = $"{ApiTestHost.Previews(ApiTestHost.TeamA)}/{(string)created["name"]!}/events";

        // act
        using var anonymous = await _host.Client(token: null).GetAsync(path);
        using var otherTeam = await _host.Client(ApiTestHost.TokenB).GetAsync(path);
        using var missing = await _host.Client(ApiTestHost.TokenA).GetAsync($"{ApiTestHost.Previews(ApiTestHost.TeamA)}/nope/events");

        // assert
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, otherTeam.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("application/problem+json", missing.Content.Headers.ContentType?.MediaType);
    }

    private static async Task<HttpResponseMessage> OpenAsync(HttpClient client, string name, string? lastEventId = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"{ApiTestHost.Previews(ApiTestHost.TeamA)}/{name}/events");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response;
    }
}
