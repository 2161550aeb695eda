using System.Text.Json.Nodes;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Http;
using Midori.Operator.Http.Services;
using Midori.Operator.Options;
using Midori.Operator.Persistence;
using Midori.Operator.Testing.Fakes;
using Npgsql;
using MsOptions = Microsoft.Extensions.Options.Options;
using Midori.Operator.Testing;
using Midori.Operator.Runtime;

namespace Midori.Operator.Tests.Http.Services;

/// <summary>The hub's fan-out and slow-client rule, and the progress relay in process and across replicas through PostgreSQL.</summary>
public sealed class PreviewEventHubTests
{
    private static readonly PreviewKey Key = new("team-a", "demo");

    [Fact]
    public void Publish_ToASlowClient_DropsItWithoutHoldingUpOthers()
    {
        // arrange: buffers of 4 events; one client never reads
        var hub = Hub(bufferSize: 4);
        using var slow = hub.Connect(Key);
        using var reading = hub.Connect(Key);
        var received = 0;

        // act
        for (var i = 0; i < 10; i++)
        {
            hub.Publish(new ProgressMessage(Key.Namespace, Key.Name, ProgressMessage.ProgressKind, ProvisioningStages.Transferring, i));
            while (reading.Reader.TryRead(out _))
            {
                received++;
            }
        }

        // assert: the slow one keeps what it had and is completed; the reader got everything
        Assert.True(slow.WasDropped);
        Assert.False(reading.WasDropped);
        Assert.Equal(10, received);
        Assert.Equal(1, hub.Dropped);
        var buffered = 0;
        while (slow.Reader.TryRead(out _))
        {
            buffered++;
        }

        Assert.Equal(4, buffered);
        Assert.True(slow.Reader.Completion.IsCompleted);
    }

    [Fact]
    public void Publish_OnlyReachesConnectionsOfThatPreview_AndRemembersTheLatestProgress()
    {
        // arrange
        var hub = Hub();
        using var mine = hub.Connect(Key);
        using var other = hub.Connect(new PreviewKey("team-a", "other"));

        // act
        hub.Publish(new ProgressMessage(Key.Namespace, Key.Name, ProgressMessage.ProgressKind, ProvisioningStages.Updating, 70, Recreating: true));

        // assert
        Assert.True(mine.Reader.TryRead(out var preview));
        Assert.False(other.Reader.TryRead(out _));
        var data = JsonNode.Parse(preview.Data)!;
        Assert.Equal((PreviewEventTypes.Progress, "updating", 70, true), (preview.Type, (string)data["step"]!, (int)data["percentage"]!, (bool)data["recreating"]!));
        Assert.Same(preview, hub.LastProgress(Key));
    }

    [Fact]
    public void StatusEvent_SignatureIgnoresActivityButNotTheUrl()
    {
        // arrange
        var hub = Hub();
        var running = Resource("sbx-1", "https://a/", activity: new DateTime(2026, 11, 23, 10, 0, 0, DateTimeKind.Utc));
        var heartbeat = Resource("sbx-1", "https://a/", activity: new DateTime(2026, 11, 23, 10, 1, 0, DateTimeKind.Utc));
        var recreated = Resource("sbx-2", "https://b/", activity: new DateTime(2026, 11, 23, 10, 1, 0, DateTimeKind.Utc));

        // act
        var (a, b, c) = (hub.StatusEvent(running), hub.StatusEvent(heartbeat), hub.StatusEvent(recreated));

        // assert
        Assert.Equal(a.Signature, b.Signature);
        Assert.NotEqual(a.Signature, c.Signature);
    }

    [Fact]
    public async Task Relay_WithoutTheStore_PublishesInProcessWithoutBlockingTheReconciler()
    {
        // arrange
        var hub = Hub();
        using var connection = hub.Connect(Key);
        var relay = new PreviewProgressRelay(hub, MsOptions.Create(new PreviewEventsOptions()), new FakeTimeProvider(), NullLogger<PreviewProgressRelay>.Instance);
        await relay.StartAsync(CancellationToken.None);
        var resource = Resource("sbx-1", "https://a/", null);

        // act: what the reconciler calls, inline
        ISandboxLifecycleObserver observer = relay;
        observer.Provisioning(resource, recreating: true);
        observer.Progress(resource, ProvisioningStages.Creating, 10);
        observer.Progress(resource, ProvisioningStages.Complete, 100);

        // assert
        var first = await connection.Reader.ReadAsync().AsTask().WaitAsync(TestWaits.Bound);
        var second = await connection.Reader.ReadAsync().AsTask().WaitAsync(TestWaits.Bound);
        Assert.False(relay.IsCrossReplica);
        Assert.Equal(("creating", true), ((string)JsonNode.Parse(first.Data)!["step"]!, (bool)JsonNode.Parse(first.Data)!["recreating"]!));
        Assert.Equal("complete", (string)JsonNode.Parse(second.Data)!["step"]!);
        await relay.StopAsync(CancellationToken.None);
    }

    [PostgresRelayFact]
    public async Task Relay_WithTheStore_DeliversTheLeadersProgressToAnotherReplica()
    {
        // arrange: two replicas, each with its own hub, relay and connection pool; only the "leader" reconciles
        var channel = $"midori_test_{Guid.NewGuid():N}"[..40];
        var options = MsOptions.Create(new PreviewEventsOptions { NotifyChannel = channel });
        await using var leaderPool = NpgsqlDataSource.Create(Environment.GetEnvironmentVariable(PostgresRelayFactAttribute.Variable)!);
        await using var followerPool = NpgsqlDataSource.Create(Environment.GetEnvironmentVariable(PostgresRelayFactAttribute.Variable)!);
        var (leaderHub, followerHub) = (Hub(), Hub());
        var leader = new PreviewProgressRelay(leaderHub, options, TimeProvider.System, NullLogger<PreviewProgressRelay>.Instance, new PostgresStoreNotifications(leaderPool));
        var follower = new PreviewProgressRelay(followerHub, options, TimeProvider.System, NullLogger<PreviewProgressRelay>.Instance, new PostgresStoreNotifications(followerPool));
        await leader.StartAsync(CancellationToken.None);
        await follower.StartAsync(CancellationToken.None);
        await Task.WhenAll(leader.Listening, follower.Listening).WaitAsync(TimeSpan.FromSeconds(30));
        using var onFollower = followerHub.Connect(Key);
        using var onLeader = leaderHub.Connect(Key);
        var resource = Resource("sbx-1", "https://a/", null);

        // act: the leader's reconciler reports a recreation
        ISandboxLifecycleObserver observer = leader;
        observer.RecreationStarted(resource, RecreationReasons.Expired, "sbx-0");
        observer.Provisioning(resource, recreating: true);
        observer.Progress(resource, ProvisioningStages.Transferring, 40);

        // assert: both replicas' clients get both events, in order
        foreach (var connection in new[] { onFollower, onLeader })
        {
            var started = await connection.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            var progress = await connection.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal((PreviewEventTypes.Recreation, "started", "sbx-0"),
                (started.Type, (string)JsonNode.Parse(started.Data)!["step"]!, (string)JsonNode.Parse(started.Data)!["oldSandboxId"]!));
            Assert.Equal((PreviewEventTypes.Progress, "transferring", 40),
                (progress.Type, (string)JsonNode.Parse(progress.Data)!["step"]!, (int)JsonNode.Parse(progress.Data)!["percentage"]!));
        }

        Assert.True(follower.IsCrossReplica);
        await leader.StopAsync(CancellationToken.None);
        await follower.StopAsync(CancellationToken.None);
    }

    private static PreviewEventHub Hub(int bufferSize = 256)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero));
        var cache = new PreviewSandboxCache(new ScriptedPreviewSandboxClient(), time);
        var options = new StaticOptionsMonitor<PreviewEventsOptions>(new PreviewEventsOptions { ClientBufferSize = bufferSize });
        return new PreviewEventHub(cache, options, time, NullLogger<PreviewEventHub>.Instance);
    }

    private static V1Alpha1PreviewSandbox Resource(string sandboxId, string url, DateTime? activity) => new()
    {
        Metadata = new V1ObjectMeta { Name = Key.Name, NamespaceProperty = Key.Namespace, ResourceVersion = "7", Uid = "uid-1" },
        Spec = new PreviewSandboxSpec { ProjectId = "p" },
        Status = new PreviewSandboxStatus
        {
            Phase = Phases.Running,
            SandboxId = sandboxId,
            PreviewUrl = url,
            LastActivityTime = activity,
            Conditions = [new V1Condition { Type = PreviewSandboxConditions.Ready, Status = "True", Reason = "SandboxReady", Message = "ok" }],
        },
    };

    private sealed class StaticOptionsMonitor<T>(T value) : IOptionsMonitor<T>
    {
        public T CurrentValue => value;

        public T Get(string? name) => value;

        public IDisposable? OnChange(Action<T, string?> listener) => null;
    }
}

/// <summary>Needs PostgreSQL (<c>MIDORI_TEST_PG</c>, exported by the CI setup script); skipped with the reason otherwise.</summary>
public sealed class PostgresRelayFactAttribute : FactAttribute
{
    public const string Variable = "MIDORI_TEST_PG";

    public PostgresRelayFactAttribute()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(Variable)))
        {
            Skip = $"{Variable} is not set: the cross-replica relay test needs PostgreSQL (.ci/setup.d installs and starts one).";
        }
    }
}
