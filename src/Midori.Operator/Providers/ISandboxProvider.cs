using Midori.Operator.Files;

namespace Midori.Operator.Providers;

/// <summary>
/// The one seam to a sandbox backend (local, Daytona, E2B). Calls are idempotent where the backend allows it;
/// "gone" is a normal answer (null / no-op), never an exception.
/// </summary>
public interface ISandboxProvider
{
    /// <summary>Provider name as used in spec.provider.</summary>
    string Name { get; }

    /// <summary>Creates a sandbox labeled with <see cref="SandboxCreateRequest.OwnerUid"/>. Callers look up by owner first.</summary>
    Task<SandboxInfo> CreateAsync(SandboxCreateRequest request, CancellationToken cancellationToken);

    /// <summary>Current view of a sandbox; null when the provider no longer knows it.</summary>
    Task<SandboxInfo?> GetAsync(string sandboxId, CancellationToken cancellationToken);

    /// <summary>Sandboxes carrying our owner label; with <paramref name="ownerUid"/>, only that owner's.</summary>
    Task<IReadOnlyList<SandboxInfo>> ListAsync(string? ownerUid, CancellationToken cancellationToken);

    /// <summary>Writes files into the sandbox's project directory (whole set or a delta), in as few requests as the backend allows.</summary>
    Task UploadFilesAsync(string sandboxId, IReadOnlyList<SandboxFile> files, CancellationToken cancellationToken);

    /// <summary>Removes files from the project directory (a delta push). Missing files count as removed.</summary>
    Task DeleteFilesAsync(string sandboxId, IReadOnlyList<string> paths, CancellationToken cancellationToken);

    /// <summary>Starts (or restarts) the dev server. Idempotent: a running server for the same spec is left alone.</summary>
    Task StartAsync(string sandboxId, SandboxStartRequest request, CancellationToken cancellationToken);

    /// <summary>Preview URL and access token for a port. Tokens may change after every start, so ask again after each.</summary>
    Task<PreviewEndpoint> GetPreviewAsync(string sandboxId, int port, CancellationToken cancellationToken);

    /// <summary>Keeps the sandbox alive until at least <paramref name="until"/>; returns the provider's new end time when it has one.</summary>
    Task<DateTimeOffset?> ExtendAsync(string sandboxId, DateTimeOffset until, CancellationToken cancellationToken);

    /// <summary>Deletes the sandbox. Already gone counts as done.</summary>
    Task DeleteAsync(string sandboxId, CancellationToken cancellationToken);

    /// <summary>What this backend can do beyond create, run and delete; callers check before pausing, archiving or reading a manifest.</summary>
    SandboxCapabilities Capabilities { get; }

    /// <summary>
    /// Pauses the sandbox and keeps its files (E2B pause keeps memory too; Daytona and local stop the processes and keep
    /// the disk). Idempotent: an already paused sandbox counts as done. False when the sandbox is gone.
    /// </summary>
    Task<bool> PauseAsync(string sandboxId, CancellationToken cancellationToken);

    /// <summary>
    /// Brings a paused (or archived) sandbox back and keeps it alive until at least <paramref name="until"/>. Running
    /// already counts as done. Null when the sandbox is gone; the dev server may need <see cref="StartAsync"/> again.
    /// </summary>
    Task<SandboxInfo?> ResumeAsync(string sandboxId, DateTimeOffset until, CancellationToken cancellationToken);

    /// <summary>Moves a paused sandbox to cold storage (Daytona archive); a resume restores it, slower. False when gone.</summary>
    Task<bool> ArchiveAsync(string sandboxId, CancellationToken cancellationToken);

    /// <summary>
    /// The files under the project directory as the sandbox holds them, path (relative, '/'-separated) →
    /// <see cref="Files.ContentHash"/> form. Dependency and VCS folders are left out. Null when the sandbox is gone.
    /// </summary>
    Task<IReadOnlyDictionary<string, string>?> GetFileManifestAsync(string sandboxId, CancellationToken cancellationToken);
}

/// <summary>Optional abilities of a backend (<see cref="ISandboxProvider.Capabilities"/>).</summary>
[Flags]
public enum SandboxCapabilities
{
    None = 0,

    /// <summary><see cref="ISandboxProvider.PauseAsync"/> and <see cref="ISandboxProvider.ResumeAsync"/> work.</summary>
    Pause = 1,

    /// <summary><see cref="ISandboxProvider.ArchiveAsync"/> works.</summary>
    Archive = 2,

    /// <summary><see cref="ISandboxProvider.GetFileManifestAsync"/> works.</summary>
    FileManifest = 4,
}

public enum SandboxState
{
    /// <summary>Being created or started.</summary>
    Pending,
    Running,
    /// <summary>Exists but not serving (stopped, paused, past its end time).</summary>
    Stopped,
    /// <summary>The provider reports a failure.</summary>
    Error,
}

public sealed record SandboxInfo(
    string Id,
    string? OwnerUid,
    SandboxState State,
    DateTimeOffset? CreatedAt,
    DateTimeOffset? EndAt,
    IReadOnlyDictionary<string, string>? Labels = null);

/// <param name="Recreations">
/// <c>status.recreations</c> when the sandbox was requested: the same across operator restarts while one creation is in
/// flight, different for each replacement. With <see cref="OwnerUid"/> it gives providers an idempotency key (Daytona
/// derives the sandbox name from it), which covers providers whose list is only eventually consistent.
/// </param>
public sealed record SandboxCreateRequest(
    string OwnerUid,
    string Namespace,
    string Name,
    string ProjectId,
    string? Template,
    int Port,
    TimeSpan Ttl,
    TimeSpan IdleTimeout,
    IReadOnlyDictionary<string, string> Labels,
    int Recreations = 0);

public sealed record SandboxStartRequest(
    string? Command,
    int Port,
    IReadOnlyDictionary<string, string> Environment)
{
    /// <summary>
    /// Same dev server by value (the record's own equality compares the environment by reference): a provider leaves a
    /// running server alone when the request is the same, as for a claim whose pool already started it.
    /// </summary>
    public bool SameServerAs(SandboxStartRequest other) =>
        string.Equals(Command ?? "", other.Command ?? "", StringComparison.Ordinal)
        && Port == other.Port
        && Environment.Count == other.Environment.Count
        && Environment.All(kv => other.Environment.TryGetValue(kv.Key, out var v) && string.Equals(v, kv.Value, StringComparison.Ordinal));
}

public sealed record PreviewEndpoint(Uri Url, string? Token);

/// <summary>Raised for provider failures worth showing in status; <see cref="IsTransient"/> drives retry/backoff.</summary>
public sealed class SandboxProviderException(string provider, string message, bool isTransient, Exception? inner = null)
    : Exception(message, inner)
{
    public string Provider { get; } = provider;
    public bool IsTransient { get; } = isTransient;

    /// <summary>A specific condition reason (CamelCase) for status, when the generic provider error would hide what is wrong.</summary>
    public string? Reason { get; init; }
}

/// <summary>Resolves a provider by the name in spec.provider (or the configured default).</summary>
public interface ISandboxProviderRegistry
{
    string DefaultProvider { get; }
    bool TryGet(string name, out ISandboxProvider provider);
    IReadOnlyCollection<ISandboxProvider> All { get; }
}
