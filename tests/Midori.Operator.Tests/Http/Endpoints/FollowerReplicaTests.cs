using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Runtime;
using static Midori.Operator.Tests.Http.ApiTestHost;

namespace Midori.Operator.Tests.Http.Endpoints;

/// <summary>A replica that is not the leader (another holds the Lease) still serves status and heartbeats from its own watch cache.</summary>
public sealed class FollowerReplicaTests : IAsyncLifetime
{
    private const string LeaseNamespace = "midori-system";
    private ApiTestHost _host = null!;

    public async Task InitializeAsync() => _host = await StartAsync(
        new Dictionary<string, string?>
        {
            ["LeaderElection:Enabled"] = "true",
            ["LeaderElection:LeaseNamespace"] = LeaseNamespace,
            ["LeaderElection:Identity"] = "follower",
        },
        beforeStart: async server =>
        {
            var kubernetes = new k8s.Kubernetes(server.CreateClientConfiguration());
            var now = DateTime.UtcNow;
            await kubernetes.CoordinationV1.CreateNamespacedLeaseAsync(new V1Lease
            {
                Metadata = new V1ObjectMeta { Name = "midori-operator-leader", NamespaceProperty = LeaseNamespace },
                Spec = new V1LeaseSpec { HolderIdentity = "the-leader", LeaseDurationSeconds = 3600, AcquireTime = now, RenewTime = now },
            }, LeaseNamespace);
        });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task NonLeader_ServesStatusAndHeartbeats_FromItsWatchCache()
    {
        var resource = new Midori.Operator.Testing.Builders.PreviewSandboxBuilder().Named("led-elsewhere", TeamA).WithFile("about.html", "x").Build();
        await _host.Kubernetes.CustomObjects.CreateNamespacedCustomObjectAsync(resource, GroupVersion.Group, GroupVersion.Version, TeamA, GroupVersion.Plural);
        var now = DateTime.UtcNow;
        var status = new JsonObject
        {
            ["phase"] = Phases.Running,
            ["sandboxId"] = "sbx-from-the-leader",
            ["previewUrl"] = "https://3000-sbx.preview.test/",
            ["startedAt"] = now.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
            ["expiresAt"] = now.AddMinutes(30).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
            ["conditions"] = new JsonArray(new JsonObject
            {
                ["type"] = "Ready", ["status"] = "True", ["reason"] = "SandboxReady", ["message"] = "serving",
                ["lastTransitionTime"] = now.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
            }),
        };
        await _host.Kubernetes.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            new V1Patch(new JsonObject { ["status"] = status }.ToJsonString(), V1Patch.PatchType.MergePatch),
            GroupVersion.Group, GroupVersion.Version, TeamA, GroupVersion.Plural, "led-elsewhere");
        await _host.WaitForAsync(TeamA, "led-elsewhere", r => r?.Status?.SandboxId == "sbx-from-the-leader");
        using var client = _host.Client();

        var body = JsonNode.Parse(await client.GetStringAsync($"{Previews(TeamA)}/led-elsewhere"))!;
        var heartbeat = await client.PostAsync($"{Previews(TeamA)}/led-elsewhere/heartbeat", null);

        Assert.False(_host.Services.GetRequiredService<ILeadership>().IsLeader);
        Assert.Equal("running", (string)body["status"]!);
        Assert.Equal("sbx-from-the-leader", (string)body["sandbox_info"]!["sandbox_id"]!);
        Assert.Equal(HttpStatusCode.OK, heartbeat.StatusCode);
        Assert.True((bool)JsonNode.Parse(await heartbeat.Content.ReadAsStringAsync())!["annotationWritten"]!);
        Assert.Empty(_host.Provider.Sandboxes); // nothing reconciled here: the leader is elsewhere
    }
}
