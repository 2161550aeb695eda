using Midori.Operator.Providers;
using Midori.Operator.Files;

namespace Midori.Operator.Runtime;

/// <summary>
/// A provider as the leader-only side sees it: reads (get, list, preview URL) pass through; every mutating call first
/// passes <see cref="ILeadershipFence.EnsureHeld"/>. File pushes from the HTTP API use the undecorated providers.
/// </summary>
public sealed class FencedSandboxProvider(ISandboxProvider inner, ILeadershipFence fence) : ISandboxProvider
{
    public ISandboxProvider Inner => inner;

    public string Name => inner.Name;

    public Task<SandboxInfo> CreateAsync(SandboxCreateRequest request, CancellationToken cancellationToken)
    {
        fence.EnsureHeld($"create a {inner.Name} sandbox");
        return inner.CreateAsync(request, cancellationToken);
    }

    public Task<SandboxInfo?> GetAsync(string sandboxId, CancellationToken cancellationToken) => inner.GetAsync(sandboxId, cancellationToken);

    public Task<IReadOnlyList<SandboxInfo>> ListAsync(string? ownerUid, CancellationToken cancellationToken) => inner.ListAsync(ownerUid, cancellationToken);

    public Task UploadFilesAsync(string sandboxId, IReadOnlyList<SandboxFile> files, CancellationToken cancellationToken)
    {
        fence.EnsureHeld($"upload files to {inner.Name} sandbox {sandboxId}");
        return inner.UploadFilesAsync(sandboxId, files, cancellationToken);
    }

    public Task DeleteFilesAsync(string sandboxId, IReadOnlyList<string> paths, CancellationToken cancellationToken)
    {
        fence.EnsureHeld($"delete files in {inner.Name} sandbox {sandboxId}");
        return inner.DeleteFilesAsync(sandboxId, paths, cancellationToken);
    }

    public Task StartAsync(string sandboxId, SandboxStartRequest request, CancellationToken cancellationToken)
    {
        fence.EnsureHeld($"start {inner.Name} sandbox {sandboxId}");
        return inner.StartAsync(sandboxId, request, cancellationToken);
    }

    public Task<PreviewEndpoint> GetPreviewAsync(string sandboxId, int port, CancellationToken cancellationToken) =>
        inner.GetPreviewAsync(sandboxId, port, cancellationToken);

    public Task<DateTimeOffset?> ExtendAsync(string sandboxId, DateTimeOffset until, CancellationToken cancellationToken)
    {
        fence.EnsureHeld($"extend {inner.Name} sandbox {sandboxId}");
        return inner.ExtendAsync(sandboxId, until, cancellationToken);
    }

    public Task DeleteAsync(string sandboxId, CancellationToken cancellationToken)
    {
        fence.EnsureHeld($"delete {inner.Name} sandbox {sandboxId}");
        return inner.DeleteAsync(sandboxId, cancellationToken);
    }

    public SandboxCapabilities Capabilities => inner.Capabilities;

    public Task<bool> PauseAsync(string sandboxId, CancellationToken cancellationToken)
    {
        fence.EnsureHeld($"pause {inner.Name} sandbox {sandboxId}");
        return inner.PauseAsync(sandboxId, cancellationToken);
    }

    public Task<SandboxInfo?> ResumeAsync(string sandboxId, DateTimeOffset until, CancellationToken cancellationToken)
    {
        fence.EnsureHeld($"resume {inner.Name} sandbox {sandboxId}");
        return inner.ResumeAsync(sandboxId, until, cancellationToken);
    }

    public Task<bool> ArchiveAsync(string sandboxId, CancellationToken cancellationToken)
    {
        fence.EnsureHeld($"archive {inner.Name} sandbox {sandboxId}");
        return inner.ArchiveAsync(sandboxId, cancellationToken);
    }

    public Task<IReadOnlyDictionary<string, string>?> GetFileManifestAsync(string sandboxId, CancellationToken cancellationToken) =>
        inner.GetFileManifestAsync(sandboxId, cancellationToken);
}

/// <summary>The provider registry of the leader-only side: the same providers, each behind a <see cref="FencedSandboxProvider"/>.</summary>
public sealed class FencedSandboxProviderRegistry : ISandboxProviderRegistry
{
    private readonly ISandboxProviderRegistry _inner;
    private readonly Dictionary<string, ISandboxProvider> _byName;

    public FencedSandboxProviderRegistry(ISandboxProviderRegistry inner, ILeadershipFence fence)
    {
        _inner = inner;
        _byName = inner.All.ToDictionary(p => p.Name, p => (ISandboxProvider)new FencedSandboxProvider(p, fence), StringComparer.OrdinalIgnoreCase);
    }

    public string DefaultProvider => _inner.DefaultProvider;

    public IReadOnlyCollection<ISandboxProvider> All => _byName.Values;

    public bool TryGet(string name, out ISandboxProvider provider) => _byName.TryGetValue(name, out provider!);
}
