namespace Midori.Operator.Providers.Local;

/// <summary>In-memory state of one local sandbox. Mutated only while holding <see cref="Gate"/>.</summary>
internal sealed class LocalSandbox(LocalSandboxMetadata metadata, string directory, SandboxState state)
{
    public SemaphoreSlim Gate { get; } = new(1, 1);

    public string Id => Metadata.Id;

    public string Directory { get; } = directory;

    public string ProjectDirectory => Path.Combine(Directory, LocalSandboxPaths.ProjectDirectoryName);

    public string HomeDirectory => Path.Combine(Directory, LocalSandboxPaths.HomeDirectoryName);

    public string TempDirectory => Path.Combine(Directory, LocalSandboxPaths.TempDirectoryName);

    public string LogFile => Path.Combine(Directory, LocalSandboxPaths.LogsDirectoryName, LocalSandboxPaths.ServerLogFileName);

    public string MetadataFile => Path.Combine(Directory, LocalSandboxPaths.MetadataFileName);

    public volatile LocalSandboxMetadata Metadata = metadata;

    public volatile SandboxState State = state;

    public volatile ILocalSandboxServer? Server;

    public SandboxStartRequest? StartRequest;

    public string? Token;

    public ITimer? EndTimer;

    public volatile bool Deleted;
}
