using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using k8s;
using k8s.Models;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Kubernetes;

namespace Midori.Operator.Testing.Fakes;

/// <summary>
/// In-memory <see cref="IPreviewSandboxClient"/> for runtime tests. List and watch are scripted: each list call takes
/// the next <see cref="EnqueueList"/>/<see cref="EnqueueListFailure"/> entry (the last list repeats when the script
/// runs out); each watch call takes the next <see cref="ScriptWatch"/> stream (a fresh, open one when none is
/// scripted). Tests push events into a <see cref="ScriptedWatch"/> and await <see cref="ScriptedWatch.WaitHandledAsync"/>
/// to know the consumer has processed them — no sleeps. Reads and writes work on a simple object store.
/// </summary>
public sealed class ScriptedPreviewSandboxClient : IPreviewSandboxClient
{
    private readonly Lock _lock = new();
    private readonly Queue<Func<string?, PreviewSandboxPage>> _lists = new();
    private readonly Queue<ScriptedWatch> _scriptedWatches = new();
    private readonly List<(string? Namespace, string? Continue)> _listCalls = [];
    private readonly List<ScriptedWatch> _watches = [];
    private readonly List<(int Count, TaskCompletionSource Signal, bool Watch)> _callWaiters = [];
    private Func<string?, PreviewSandboxPage>? _lastList;
    private long _resourceVersion = 1000;

    public ConcurrentDictionary<(string Namespace, string Name), V1Alpha1PreviewSandbox> Objects { get; } = new();

    public ConcurrentDictionary<(string Namespace, string Name), V1ConfigMap> ConfigMaps { get; } = new();

    public ConcurrentDictionary<(string Namespace, string Name), (string Key, string Token, string OwnerUid)> TokenSecrets { get; } = new();

    public IReadOnlyList<(string? Namespace, string? Continue)> ListCalls
    {
        get
        {
            lock (_lock)
            {
                return _listCalls.ToList();
            }
        }
    }

    /// <summary>Watch streams in call order; <see cref="ScriptedWatch.ResourceVersion"/> is the RV each was started from.</summary>
    public IReadOnlyList<ScriptedWatch> Watches
    {
        get
        {
            lock (_lock)
            {
                return _watches.ToList();
            }
        }
    }

    /// <summary>Scripts one list result: pages of items, the collection resourceVersion on every page.</summary>
    public ScriptedPreviewSandboxClient EnqueueList(string resourceVersion, params V1Alpha1PreviewSandbox[][] pages)
    {
        if (pages.Length == 0)
        {
            pages = [[]];
        }

        for (var i = 0; i < pages.Length; i++)
        {
            var page = pages[i];
            var next = i + 1 < pages.Length ? $"page-{i + 1}" : null;
            Enqueue(_ => new PreviewSandboxPage(page, resourceVersion, next));
        }

        return this;
    }

    public ScriptedPreviewSandboxClient EnqueueListFailure(Exception exception)
    {
        Enqueue(_ => throw exception);
        return this;
    }

    /// <summary>The stream the next watch call gets.</summary>
    public ScriptedWatch ScriptWatch()
    {
        var watch = new ScriptedWatch();
        lock (_lock)
        {
            _scriptedWatches.Enqueue(watch);
        }

        return watch;
    }

    public Task WaitForListCallsAsync(int count) => WaitForCalls(count, watch: false);

    public Task WaitForWatchCallsAsync(int count) => WaitForCalls(count, watch: true);

    public Task<V1Alpha1PreviewSandbox?> GetAsync(string @namespace, string name, CancellationToken cancellationToken) =>
        Task.FromResult(Objects.TryGetValue((@namespace, name), out var item) ? item : null);

    public Task<PreviewSandboxPage> ListAsync(string? @namespace, string? continueToken, CancellationToken cancellationToken)
    {
        Func<string?, PreviewSandboxPage> list;
        lock (_lock)
        {
            _listCalls.Add((@namespace, continueToken));
            list = _lists.TryDequeue(out var next) ? next : _lastList ?? (_ => new PreviewSandboxPage([], "1", null));
            _lastList = list;
            Signal(watch: false, _listCalls.Count);
        }

        try
        {
            return Task.FromResult(list(continueToken));
        }
        catch (Exception ex)
        {
            return Task.FromException<PreviewSandboxPage>(ex);
        }
    }

    public async IAsyncEnumerable<PreviewSandboxWatchEvent> WatchAsync(
        string? @namespace, string resourceVersion, TimeSpan timeout, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ScriptedWatch watch;
        lock (_lock)
        {
            watch = _scriptedWatches.TryDequeue(out var scripted) ? scripted : new ScriptedWatch();
            watch.Namespace = @namespace;
            watch.ResourceVersion = resourceVersion;
            watch.Timeout = timeout;
            _watches.Add(watch);
            Signal(watch: true, _watches.Count);
        }

        await foreach (var item in watch.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return item;
        }
    }

    public Task<V1Alpha1PreviewSandbox> PatchStatusAsync(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status, CancellationToken cancellationToken)
    {
        var stored = Require(resource.Metadata.NamespaceProperty, resource.Metadata.Name);
        stored.Status = status;
        Bump(stored);
        return Task.FromResult(stored);
    }

    public Task<V1Alpha1PreviewSandbox> SetFinalizersAsync(V1Alpha1PreviewSandbox resource, IList<string> finalizers, CancellationToken cancellationToken)
    {
        var stored = Require(resource.Metadata.NamespaceProperty, resource.Metadata.Name);
        if (resource.Metadata.ResourceVersion != stored.Metadata.ResourceVersion)
        {
            throw new KubernetesConflictException("the object has been modified");
        }

        stored.Metadata.Finalizers = finalizers.ToList();
        Bump(stored);
        return Task.FromResult(stored);
    }

    public Task<V1Alpha1PreviewSandbox> PatchAnnotationsAsync(string @namespace, string name, IReadOnlyDictionary<string, string?> annotations, CancellationToken cancellationToken)
    {
        var stored = Require(@namespace, name);
        stored.Metadata.Annotations ??= new Dictionary<string, string>();
        foreach (var (key, value) in annotations)
        {
            if (value is null)
            {
                stored.Metadata.Annotations.Remove(key);
            }
            else
            {
                stored.Metadata.Annotations[key] = value;
            }
        }

        Bump(stored);
        return Task.FromResult(stored);
    }

    public Task<V1ConfigMap?> GetConfigMapAsync(string @namespace, string name, CancellationToken cancellationToken) =>
        Task.FromResult(ConfigMaps.TryGetValue((@namespace, name), out var map) ? map : null);

    public Task ApplyTokenSecretAsync(V1Alpha1PreviewSandbox owner, string secretName, string key, string token, CancellationToken cancellationToken)
    {
        TokenSecrets[(owner.Metadata.NamespaceProperty, secretName)] = (key, token, owner.Metadata.Uid);
        return Task.CompletedTask;
    }

    public Task<V1Alpha1PreviewSandbox> CreateAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        resource.Metadata.Uid ??= Guid.NewGuid().ToString();
        resource.Metadata.Generation ??= 1;
        Bump(resource);
        return Objects.TryAdd((resource.Metadata.NamespaceProperty, resource.Metadata.Name), resource)
            ? Task.FromResult(resource)
            : throw new KubernetesConflictException("already exists");
    }

    public Task<bool> DeleteAsync(string @namespace, string name, CancellationToken cancellationToken) =>
        Task.FromResult(Objects.TryRemove((@namespace, name), out _));

    public Task<bool> DeleteIfUnchangedAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        var key = (resource.Metadata.NamespaceProperty, resource.Metadata.Name);
        if (!Objects.TryGetValue(key, out var stored))
        {
            return Task.FromResult(false);
        }

        if (stored.Metadata.ResourceVersion != resource.Metadata.ResourceVersion)
        {
            throw new KubernetesConflictException("Precondition failed: the object has been modified");
        }

        return Task.FromResult(Objects.TryRemove(key, out _));
    }

    public Task<V1Alpha1PreviewSandbox?> PatchSpecAsync(string @namespace, string name, System.Text.Json.Nodes.JsonObject specPatch, CancellationToken cancellationToken)
    {
        if (!Objects.TryGetValue((@namespace, name), out var stored))
        {
            return Task.FromResult<V1Alpha1PreviewSandbox?>(null);
        }

        var spec = System.Text.Json.Nodes.JsonNode.Parse(KubernetesJson.Serialize(stored.Spec))!.AsObject();
        foreach (var (key, value) in specPatch)
        {
            spec[key] = value?.DeepClone();
        }

        stored.Spec = KubernetesJson.Deserialize<PreviewSandboxSpec>(spec.ToJsonString());
        stored.Metadata.Generation = (stored.Metadata.Generation ?? 0) + 1;
        Bump(stored);
        return Task.FromResult<V1Alpha1PreviewSandbox?>(stored);
    }

    public async Task<V1Alpha1PreviewSandbox?> PatchAnnotationsIfMatchAsync(string @namespace, string name, string resourceVersion,
        IReadOnlyDictionary<string, string?> annotations, CancellationToken cancellationToken)
    {
        if (!Objects.TryGetValue((@namespace, name), out var stored))
        {
            return null;
        }

        if (stored.Metadata.ResourceVersion != resourceVersion)
        {
            throw new KubernetesConflictException("the object has been modified");
        }

        return await PatchAnnotationsAsync(@namespace, name, annotations, cancellationToken);
    }

    public Task<string?> ReadSecretValueAsync(string @namespace, string name, string key, CancellationToken cancellationToken) =>
        Task.FromResult(TokenSecrets.TryGetValue((@namespace, name), out var secret) && secret.Key == key ? secret.Token : null);

    /// <summary>Builds a PreviewSandbox with the metadata the runtime looks at.</summary>
    public static V1Alpha1PreviewSandbox Sandbox(
        string name, string @namespace = "default", string? uid = null, long generation = 1, string resourceVersion = "1",
        IDictionary<string, string>? annotations = null, IList<string>? finalizers = null, DateTime? deletionTimestamp = null) => new()
        {
            Metadata = new V1ObjectMeta
            {
                Name = name,
                NamespaceProperty = @namespace,
                Uid = uid ?? $"uid-{@namespace}-{name}",
                Generation = generation,
                ResourceVersion = resourceVersion,
                Annotations = annotations,
                Finalizers = finalizers,
                DeletionTimestamp = deletionTimestamp,
            },
        };

    private void Enqueue(Func<string?, PreviewSandboxPage> list)
    {
        lock (_lock)
        {
            _lists.Enqueue(list);
        }
    }

    private V1Alpha1PreviewSandbox Require(string @namespace, string name) =>
        Objects.TryGetValue((@namespace, name), out var item) ? item : throw new InvalidOperationException($"PreviewSandbox {@namespace}/{name} not found");

    private void Bump(V1Alpha1PreviewSandbox item) =>
        item.Metadata.ResourceVersion = Interlocked.Increment(ref _resourceVersion).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private Task WaitForCalls(int count, bool watch)
    {
        lock (_lock)
        {
            if ((watch ? _watches.Count : _listCalls.Count) >= count)
            {
                return Task.CompletedTask;
            }

            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _callWaiters.Add((count, signal, watch));
            return signal.Task;
        }
    }

    // Must hold _lock.
    private void Signal(bool watch, int count)
    {
        foreach (var waiter in _callWaiters.Where(w => w.Watch == watch && w.Count <= count).ToList())
        {
            _callWaiters.Remove(waiter);
            waiter.Signal.TrySetResult();
        }
    }
}

/// <summary>One scripted watch stream. Events and failures are delivered in order; <see cref="Close"/> ends it like a server timeout.</summary>
public sealed class ScriptedWatch
{
    private readonly Channel<object> _items = Channel.CreateUnbounded<object>();
    private readonly Lock _lock = new();
    private readonly List<(int Count, TaskCompletionSource Signal)> _waiters = [];
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _handled;

    public string? Namespace { get; internal set; }

    public string? ResourceVersion { get; internal set; }

    public TimeSpan Timeout { get; internal set; }

    /// <summary>Completes when the consumer stopped reading (stream closed, failed, or cancelled).</summary>
    public Task Ended => _ended.Task;

    public ScriptedWatch Send(WatchEventType type, V1Alpha1PreviewSandbox item)
    {
        _items.Writer.TryWrite(new PreviewSandboxWatchEvent(type, item, item.Metadata.ResourceVersion));
        return this;
    }

    public ScriptedWatch Bookmark(string resourceVersion)
    {
        _items.Writer.TryWrite(new PreviewSandboxWatchEvent(WatchEventType.Bookmark, null, resourceVersion));
        return this;
    }

    /// <summary>The stream throws <paramref name="exception"/> after the events sent so far.</summary>
    public ScriptedWatch Fail(Exception exception)
    {
        _items.Writer.TryWrite(exception);
        _items.Writer.TryComplete();
        return this;
    }

    /// <summary>The server closes the stream after the events sent so far.</summary>
    public ScriptedWatch Close()
    {
        _items.Writer.TryComplete();
        return this;
    }

    /// <summary>Completes once the consumer has handled <paramref name="count"/> events and asked for the next one (or the stream ended).</summary>
    public Task WaitHandledAsync(int count)
    {
        lock (_lock)
        {
            if (_handled >= count || _ended.Task.IsCompleted)
            {
                return Task.CompletedTask;
            }

            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, signal));
            return signal.Task;
        }
    }

    internal async IAsyncEnumerable<PreviewSandboxWatchEvent> ReadAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var handled = 0;
        try
        {
            while (true)
            {
                MarkHandled(handled);
                if (!await _items.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false) || !_items.Reader.TryRead(out var item))
                {
                    yield break;
                }

                if (item is Exception exception)
                {
                    throw exception;
                }

                handled++;
                yield return (PreviewSandboxWatchEvent)item;
            }
        }
        finally
        {
            MarkHandled(handled);
            _ended.TrySetResult();
            lock (_lock)
            {
                foreach (var waiter in _waiters)
                {
                    waiter.Signal.TrySetResult();
                }

                _waiters.Clear();
            }
        }
    }

    private void MarkHandled(int handled)
    {
        lock (_lock)
        {
            _handled = handled;
            foreach (var waiter in _waiters.Where(w => w.Count <= handled).ToList())
            {
                _waiters.Remove(waiter);
                waiter.Signal.TrySetResult();
            }
        }
    }
}
