using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Options;
using Midori.Operator.Providers;
using Midori.Operator.Runtime;
using Midori.Operator.Testing.Fakes;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Midori.Operator.Testing;

/// <summary>A reconciler wired to fakes for every seam and a FakeTimeProvider: reconcile, advance time, assert.</summary>
public sealed class ReconcilerHarness
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);

    /// <param name="store">Optional store seams (snapshot source, activity, extra observers).</param>
    /// <param name="time">The clock, when those seams must share it; starts at <see cref="T0"/> by default.</param>
    public ReconcilerHarness(OperatorOptions? options = null, HarnessStore? store = null, FakeTimeProvider? time = null)
    {
        Time = time ?? new FakeTimeProvider(T0);
        Client = new InMemoryPreviewSandboxClient(Time);
        Provider = new FakeSandboxProvider(Time);
        Options = options ?? new OperatorOptions();
        var seams = store ?? new HarnessStore();
        var registry = new StaticProviderRegistry(Provider, Options.DefaultProvider);
        Health = new ProviderHealth(Time);
        Reconciler = new PreviewSandboxReconciler(Client, registry, new SandboxSourceResolver(Client, seams.Snapshots), Probe, Events, Time,
            MsOptions.Create(Options), NullLogger<PreviewSandboxReconciler>.Instance, [Observer, .. seams.Observers ?? []], seams.Activity, Health);
    }

    public FakeTimeProvider Time { get; }

    public InMemoryPreviewSandboxClient Client { get; }

    public FakeSandboxProvider Provider { get; }

    /// <summary>What providers reported about themselves (→ ProviderAvailable); tests report outages here.</summary>
    public IProviderHealth Health { get; }

    public FakePreviewProbe Probe { get; } = new();

    public FakeEventRecorder Events { get; } = new();

    public RecordingLifecycleObserver Observer { get; } = new();

    public OperatorOptions Options { get; }

    internal IReconciler Reconciler { get; }

    public Task<ReconcileResult> ReconcileAsync(string name = "demo", string @namespace = "default") =>
        Reconciler.ReconcileAsync(new PreviewKey(@namespace, name), CancellationToken.None);

    public V1Alpha1PreviewSandbox Get(string name = "demo", string @namespace = "default") =>
        Client.Peek(@namespace, name) ?? throw new InvalidOperationException($"{@namespace}/{name} does not exist");

    public void Heartbeat(DateTimeOffset at, string name = "demo", string @namespace = "default") =>
        Client.PatchAnnotationsAsync(@namespace, name,
            new Dictionary<string, string?> { [GroupVersion.HeartbeatAnnotation] = at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture) },
            CancellationToken.None).GetAwaiter().GetResult();

    private sealed class StaticProviderRegistry(ISandboxProvider provider, string defaultProvider) : ISandboxProviderRegistry
    {
        public string DefaultProvider => defaultProvider;

        public IReadOnlyCollection<ISandboxProvider> All => [provider];

        public bool TryGet(string name, out ISandboxProvider found)
        {
            var known = string.Equals(name, provider.Name, StringComparison.OrdinalIgnoreCase);
            found = known ? provider : null!; // like the real registry: no provider for an unknown name
            return known;
        }
    }
}

/// <summary>Store-backed seams a harness can use (all optional): <c>spec.source.snapshotId</c>, stored activity, more observers.</summary>
public sealed record HarnessStore(
    ISnapshotFileSource? Snapshots = null,
    Midori.Operator.Persistence.IActivityStore? Activity = null,
    IReadOnlyList<ISandboxLifecycleObserver>? Observers = null);

/// <summary>Records lifecycle notifications for assertions and benchmark figures.</summary>
public sealed class RecordingLifecycleObserver : ISandboxLifecycleObserver
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _log = new();
    private readonly System.Collections.Concurrent.ConcurrentQueue<TimeSpan> _expiryLateness = new();

    public IReadOnlyList<string> Log => [.. _log];

    public IReadOnlyList<TimeSpan> ExpiryLateness => [.. _expiryLateness];

    public event Action<V1Alpha1PreviewSandbox>? BecameReady;

    public event Action<V1Alpha1PreviewSandbox, TimeSpan>? ExpiredAfter;

    public void Provisioning(V1Alpha1PreviewSandbox resource, bool recreating) => _log.Enqueue($"provisioning {resource} recreating={recreating}");

    public void Ready(V1Alpha1PreviewSandbox resource, PreviewSandboxStatus status, bool recreated, TimeSpan elapsed)
    {
        _log.Enqueue($"ready {resource} {status.SandboxId} recreated={recreated}");
        BecameReady?.Invoke(resource);
    }

    public void RecreationStarted(V1Alpha1PreviewSandbox resource, string reason, string? oldSandboxId) => _log.Enqueue($"recreation-started {resource} {reason} {oldSandboxId}");

    public void RecreationCompleted(V1Alpha1PreviewSandbox resource, RecreationRecord record, bool success, string? error, TimeSpan elapsed) =>
        _log.Enqueue($"recreation-completed {resource} {record.Reason} success={success}");

    public void Expired(V1Alpha1PreviewSandbox resource, string reason, TimeSpan lateness)
    {
        _log.Enqueue($"expired {resource} {reason}");
        _expiryLateness.Enqueue(lateness);
        ExpiredAfter?.Invoke(resource, lateness);
    }

    public void Ended(V1Alpha1PreviewSandbox resource, string phase, string reason) => _log.Enqueue($"ended {resource} {phase} {reason}");

    public void Deleted(V1Alpha1PreviewSandbox resource) => _log.Enqueue($"deleted {resource}");

    public void ExpiryWarned(V1Alpha1PreviewSandbox resource, ExpiryWarning warning) =>
        _log.Enqueue($"expiry-warning {resource} {warning.Cut} {warning.Outcome} {(int)Math.Ceiling(warning.Remaining.TotalSeconds)}s");
}
