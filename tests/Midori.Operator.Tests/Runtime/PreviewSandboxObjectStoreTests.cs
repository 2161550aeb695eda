using k8s.Models;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Runtime;

namespace Midori.Operator.Tests.Runtime;

public sealed class PreviewSandboxObjectStoreTests
{
    private static readonly ObjectKey A = new("default", "a");

    [Fact]
    public void TryGet_BeforeTheFirstList_Misses()
    {
        // arrange
        var store = new PreviewSandboxObjectStore();
        store.Upsert(Sandbox("5"));

        // act
        var found = store.TryGet(A, out _);

        // assert: the reconciler then reads from the API server
        Assert.False(found);
    }

    [Fact]
    public void Observe_OwnWriteThenOlderWatchEvent_KeepsTheWrite()
    {
        // arrange
        var store = new PreviewSandboxObjectStore();
        store.Replace([Sandbox("5")]);

        // act: our status write (rv 7) returns before the watch delivers the finalizer patch (rv 6)
        store.Observe(Sandbox("7"));
        store.Upsert(Sandbox("6"));

        // assert
        Assert.True(store.TryGet(A, out var current));
        Assert.Equal("7", current.Metadata.ResourceVersion);
    }

    [Fact]
    public void Upsert_NewerWatchEvent_ReplacesTheWrite()
    {
        // arrange
        var store = new PreviewSandboxObjectStore();
        store.Replace([Sandbox("5")]);
        store.Observe(Sandbox("7"));

        // act
        store.Upsert(Sandbox("8"));

        // assert
        Assert.True(store.TryGet(A, out var current));
        Assert.Equal("8", current.Metadata.ResourceVersion);
    }

    [Fact]
    public void Observe_AfterDeleted_DoesNotBringItBack()
    {
        // arrange
        var store = new PreviewSandboxObjectStore();
        store.Replace([Sandbox("5")]);
        store.Remove(Sandbox("6"));

        // act: the reply to the finalizer removal arrives after the DELETED event
        store.Observe(Sandbox("6"));

        // assert
        Assert.False(store.TryGet(A, out _));
        Assert.Equal(0, store.Count);
    }

    [Fact]
    public void Upsert_RecreatedWithSameName_ReplacesTheOldObject()
    {
        // arrange
        var store = new PreviewSandboxObjectStore();
        store.Replace([Sandbox("9")]);

        // act
        store.Upsert(Sandbox("3", uid: "uid-2"));

        // assert
        Assert.True(store.TryGet(A, out var current));
        Assert.Equal("uid-2", current.Metadata.Uid);
    }

    private static V1Alpha1PreviewSandbox Sandbox(string resourceVersion, string uid = "uid-1") => new()
    {
        Metadata = new V1ObjectMeta { Name = "a", NamespaceProperty = "default", Uid = uid, ResourceVersion = resourceVersion },
        Spec = new PreviewSandboxSpec { ProjectId = "p" },
    };
}
