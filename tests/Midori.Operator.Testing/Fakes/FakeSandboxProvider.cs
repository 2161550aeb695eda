using System.Collections.Concurrent;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Providers;
using Midori.Operator.Files;

namespace Midori.Operator.Testing.Fakes;

/// <summary>
/// Instant in-memory provider: every call succeeds at once unless a fault is scripted. Enforces its own end time
/// (from the TimeProvider) like a cloud sandbox, so expiry paths can be driven with FakeTimeProvider.Advance.
/// </summary>
public sealed class FakeSandboxProvider(TimeProvider time, string name = ProviderNames.Local) : ISandboxProvider
{
    private readonly ConcurrentDictionary<string, FakeSandbox> _sandboxes = new();
    private readonly ConcurrentQueue<Exception> _createFaults = new();
    private readonly ConcurrentQueue<Exception> _uploadFaults = new();
    private int _nextId;
    private int _tokenVersion;

    public string Name { get; } = name;

    public int CreateCalls => _createCalls;
    public int ExtendCalls => _extendCalls;

    private int _createCalls;
    private int _extendCalls;

    /// <summary>When set, GetAsync/ListAsync throw it (provider outage).</summary>
    public Exception? OutageException { get; set; }

    public IReadOnlyCollection<FakeSandbox> Sandboxes => [.. _sandboxes.Values];

    public FakeSandbox? Find(string id) => _sandboxes.TryGetValue(id, out var s) ? s : null;

    public void FailNextCreate(Exception? exception = null) => _createFaults.Enqueue(exception ?? Transient("create failed"));

    public void FailNextUpload(Exception? exception = null) => _uploadFaults.Enqueue(exception ?? Transient("upload failed"));

    /// <summary>The provider forgets the sandbox, as if it was reaped behind our back.</summary>
    public void Vanish(string id) => _sandboxes.TryRemove(id, out _);

    public Task<SandboxInfo> CreateAsync(SandboxCreateRequest request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _createCalls);
        if (_createFaults.TryDequeue(out var fault))
        {
            throw fault;
        }

        var now = time.GetUtcNow();
        var sandbox = new FakeSandbox($"{Name}-{Interlocked.Increment(ref _nextId):D6}", request.OwnerUid, request, now, now + request.Ttl);
        _sandboxes[sandbox.Id] = sandbox;
        return Task.FromResult(sandbox.ToInfo(now));
    }

    public Task<SandboxInfo?> GetAsync(string sandboxId, CancellationToken cancellationToken)
    {
        if (OutageException is { } outage)
        {
            throw outage;
        }

        return Task.FromResult(_sandboxes.TryGetValue(sandboxId, out var s) ? s.ToInfo(time.GetUtcNow()) : null);
    }

    public Task<IReadOnlyList<SandboxInfo>> ListAsync(string? ownerUid, CancellationToken cancellationToken)
    {
        if (OutageException is { } outage)
        {
            throw outage;
        }

        var now = time.GetUtcNow();
        IReadOnlyList<SandboxInfo> list = [.. _sandboxes.Values.Where(s => ownerUid is null || s.OwnerUid == ownerUid).Select(s => s.ToInfo(now))];
        return Task.FromResult(list);
    }

    /// <summary>Awaited before an upload is applied (a slow upload: the test decides when it lands).</summary>
    public Func<string, IReadOnlyList<SandboxFile>, Task>? BeforeUpload { get; set; }

    /// <summary>False: previews are public (no token), as with a remote provider's public sandboxes.</summary>
    public bool IssuesTokens { get; set; } = true;

    public async Task UploadFilesAsync(string sandboxId, IReadOnlyList<SandboxFile> files, CancellationToken cancellationToken)
    {
        if (_uploadFaults.TryDequeue(out var fault))
        {
            throw fault;
        }

        if (BeforeUpload is { } before)
        {
            await before(sandboxId, files).ConfigureAwait(false);
        }

        var sandbox = Require(sandboxId);
        foreach (var file in files)
        {
            sandbox.Files[file.Path] = file.Content;
        }
    }

    public Task DeleteFilesAsync(string sandboxId, IReadOnlyList<string> paths, CancellationToken cancellationToken)
    {
        var sandbox = Require(sandboxId);
        foreach (var path in paths)
        {
            sandbox.Files.TryRemove(path, out _);
        }

        return Task.CompletedTask;
    }

    public Task StartAsync(string sandboxId, SandboxStartRequest request, CancellationToken cancellationToken)
    {
        var sandbox = Require(sandboxId);
        if (sandbox.StartRequest is not { } running || !running.SameServerAs(request) || sandbox.State != SandboxState.Running)
        {
            sandbox.StartRequest = request;
            sandbox.State = SandboxState.Running;
            sandbox.Starts++;
            sandbox.Token = IssuesTokens ? $"token-{Interlocked.Increment(ref _tokenVersion)}" : null;
        }

        return Task.CompletedTask;
    }

    public Task<PreviewEndpoint> GetPreviewAsync(string sandboxId, int port, CancellationToken cancellationToken)
    {
        var sandbox = Require(sandboxId);
        return Task.FromResult(new PreviewEndpoint(new Uri($"https://{port}-{sandboxId}.preview.test/"), sandbox.Token));
    }

    public Task<DateTimeOffset?> ExtendAsync(string sandboxId, DateTimeOffset until, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _extendCalls);
        var sandbox = Require(sandboxId);
        if (until > sandbox.EndAt)
        {
            sandbox.EndAt = until;
        }

        return Task.FromResult<DateTimeOffset?>(sandbox.EndAt);
    }

    public Task DeleteAsync(string sandboxId, CancellationToken cancellationToken)
    {
        _sandboxes.TryRemove(sandboxId, out _);
        Interlocked.Exchange(ref _deleted, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        return Task.CompletedTask;
    }

    /// <summary>Pause and manifest by default, as the local provider; tests narrow it to drive the delete fallback.</summary>
    public SandboxCapabilities Capabilities { get; set; } = SandboxCapabilities.Pause | SandboxCapabilities.FileManifest;

    public int PauseCalls => _pauseCalls;
    public int ResumeCalls => _resumeCalls;

    private int _pauseCalls;
    private int _resumeCalls;

    public Task<bool> PauseAsync(string sandboxId, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _pauseCalls);
        if (!_sandboxes.TryGetValue(sandboxId, out var sandbox))
        {
            return Task.FromResult(false);
        }

        sandbox.State = SandboxState.Stopped;
        sandbox.Paused = true;
        sandbox.StartRequest = null;
        return Task.FromResult(true);
    }

    public Task<SandboxInfo?> ResumeAsync(string sandboxId, DateTimeOffset until, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _resumeCalls);
        if (!_sandboxes.TryGetValue(sandboxId, out var sandbox))
        {
            return Task.FromResult<SandboxInfo?>(null);
        }

        var now = time.GetUtcNow();
        sandbox.Paused = false;
        sandbox.Archived = false;
        sandbox.EndAt = until > now ? until : sandbox.EndAt;
        sandbox.State = SandboxState.Pending;
        return Task.FromResult<SandboxInfo?>(sandbox.ToInfo(now));
    }

    public Task<bool> ArchiveAsync(string sandboxId, CancellationToken cancellationToken)
    {
        if (!Capabilities.HasFlag(SandboxCapabilities.Archive))
        {
            throw new SandboxProviderException(Name, "this fake has no archive tier", isTransient: false);
        }

        if (!_sandboxes.TryGetValue(sandboxId, out var sandbox))
        {
            return Task.FromResult(false);
        }

        sandbox.Archived = true;
        return Task.FromResult(true);
    }

    public Task<IReadOnlyDictionary<string, string>?> GetFileManifestAsync(string sandboxId, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyDictionary<string, string>?>(_sandboxes.TryGetValue(sandboxId, out var sandbox)
            ? sandbox.Files.ToDictionary(kv => kv.Key, kv => Midori.Operator.Files.ContentHash.Compute(kv.Value), StringComparer.Ordinal)
            : null);

    /// <summary>Completes at the next <see cref="DeleteAsync"/> (a signal for background work such as the orphan sweep).</summary>
    public Task WaitForDeletionAsync() => Volatile.Read(ref _deleted).Task;

    private TaskCompletionSource _deleted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private FakeSandbox Require(string id) =>
        _sandboxes.TryGetValue(id, out var s) ? s : throw new SandboxProviderException(Name, $"sandbox {id} not found", isTransient: false);

    private SandboxProviderException Transient(string message) => new(Name, message, isTransient: true);
}

public sealed class FakeSandbox(string id, string ownerUid, SandboxCreateRequest request, DateTimeOffset createdAt, DateTimeOffset endAt)
{
    public string Id { get; } = id;
    public string OwnerUid { get; } = ownerUid;
    public SandboxCreateRequest Request { get; } = request;
    public DateTimeOffset CreatedAt { get; } = createdAt;
    public DateTimeOffset EndAt { get; set; } = endAt;
    public SandboxState State { get; set; } = SandboxState.Pending;
    public SandboxStartRequest? StartRequest { get; set; }
    public string? Token { get; set; }
    public int Starts { get; set; }
    public bool Paused { get; set; }
    public bool Archived { get; set; }
    public ConcurrentDictionary<string, byte[]> Files { get; } = new(StringComparer.Ordinal);

    public SandboxInfo ToInfo(DateTimeOffset now) =>
        new(Id, OwnerUid, now >= EndAt ? SandboxState.Stopped : State, CreatedAt, EndAt, Request.Labels);
}
