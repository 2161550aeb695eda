using System.Text.Json.Nodes;
using Midori.DevApiServer;
using Midori.DevApiServer.Storage;
using Midori.DevApiServer.Watch;

namespace Midori.Operator.Tests.KubeApiServer;

public sealed class WatcherTests
{
    private static readonly ResourceType ConfigMaps = new ResourceRegistry().Find(string.Empty, "v1", "configmaps")!;

    [Fact]
    public void Deliver_BufferFull_ClosesWatcherInsteadOfBlockingWriter()
    {
        // arrange
        var watcher = new Watcher(ConfigMaps, "default", LabelSelector.Everything, capacity: 2);

        // act
        for (var rv = 1; rv <= 3; rv++)
        {
            watcher.Deliver(new StoredEvent(rv, WatchEventKind.Added, ConfigMaps, ConfigMap("c" + rv), Previous: null));
        }

        // assert
        Assert.True(watcher.IsClosed);
        Assert.Equal(2, watcher.Lines.Count);
    }

    [Fact]
    public void Deliver_OtherNamespace_IsFilteredOut()
    {
        // arrange
        var watcher = new Watcher(ConfigMaps, "other", LabelSelector.Everything, capacity: 10);

        // act
        watcher.Deliver(new StoredEvent(1, WatchEventKind.Added, ConfigMaps, ConfigMap("c"), Previous: null));

        // assert
        Assert.Equal(0, watcher.Lines.Count);
    }

    [Theory]
    [InlineData("tier=web", true)]
    [InlineData("tier==web,app", true)]
    [InlineData("tier!=web", false)]
    [InlineData("!app", false)]
    [InlineData("tier in (db, web)", true)]
    [InlineData("tier notin (web)", false)]
    public void LabelSelector_Parse_MatchesLikeKubernetes(string selector, bool expected)
    {
        // arrange
        var labels = new Dictionary<string, string> { ["tier"] = "web", ["app"] = "x" };

        // act
        var matches = LabelSelector.Parse(selector).Matches(labels);

        // assert
        Assert.Equal(expected, matches);
    }

    private static JsonObject ConfigMap(string name) => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = "ConfigMap",
        ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = "default", ["resourceVersion"] = "1" },
    };
}
