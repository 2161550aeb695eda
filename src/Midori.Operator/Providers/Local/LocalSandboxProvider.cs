using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Files;

namespace Midori.Operator.Providers.Local;

/// <summary>
/// The default provider: every sandbox is a directory under <see cref="LocalProviderOptions.RootDirectory"/> served on
/// its own ephemeral port, either as static files (empty command) or by a dev-server command. Mimics the cloud
/// lifecycle: Pending after create, Running after start, Stopped at its end time (enforced by a
/// <see cref="TimeProvider"/> timer), Error when the dev server dies, gone after delete. A dev-server command runs only
/// inside a <see cref="BubblewrapSandbox"/>; where bubblewrap cannot confine it, the command is refused
/// (<see cref="PreviewSandboxConditions.Reasons.IsolationUnavailable"/>), never run unconfined. Static mode needs no sandbox:
/// the operator itself serves the files.
/// </summary>
/// <remarks>
/// Restart behaviour: metadata lives in <c>sandbox.json</c>, so a new instance lists, extends and deletes old
/// sandboxes, but their servers are not resurrected: they report <see cref="SandboxState.Stopped"/> until
/// <see cref="StartAsync"/> is called again (the operator's reconcile does that, like for a stopped Daytona sandbox).
/// One provider instance per root directory at a time: a new instance kills, before anything else, every sandboxed
/// process an earlier instance on the same root left (found by the marker in its command line, so even processes
/// whose directory or record is gone are found); while the operator lives, <c>--die-with-parent</c> ties each sandbox to it.
/// </remarks>
public sealed class LocalSandboxProvider : ISandboxProvider, IAsyncDisposable
{
    public const string ProviderName = ProviderNames.Local;

    private readonly LocalProviderOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<LocalSandboxProvider> _logger;
    private readonly IPAddress _bindAddress;
    private readonly string _root;
    private readonly ConcurrentDictionary<string, LocalSandbox> _sandboxes = new(StringComparer.Ordinal);
    private readonly ISandboxDeathNotifier? _deaths;
    private readonly Lazy<Task<string?>> _isolationProblem;
    private readonly string _marker;
    private readonly SemaphoreSlim _loadGate = new(1, 1);
    private readonly LocalFrontServer _fronts = new();
    private volatile bool _loaded;
    private volatile bool _disposed;

    public LocalSandboxProvider(
        IOptions<LocalProviderOptions> options, TimeProvider timeProvider, ILogger<LocalSandboxProvider> logger, ISandboxDeathNotifier? deaths = null)
    {
        _options = options.Value;
        _timeProvider = timeProvider;
        _logger = logger;
        _deaths = deaths;
        _bindAddress = IPAddress.Parse(_options.BindAddress);
        _root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(_options.RootDirectory));

        // argv marker of this root's sandboxes: a hash, so the sandbox does not learn the host path of the root
        _marker = BubblewrapSandbox.MarkerPrefix + Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(_root)))[..16] + "/";
        _isolationProblem = new(() => BubblewrapSandbox.ProbeAsync(_options.BubblewrapPath, _root, _options.SandboxReadOnlyPaths, CancellationToken.None));
        ReapOrphans();
    }

    /// <summary>Test seam: runs after a dev-server process was spawned and recorded, before it is awaited (crash injection).</summary>
    internal Func<int, CancellationToken, Task>? AfterSpawn { get; set; }

    /// <summary>Null when commands can run sandboxed here, else why they are refused.</summary>
    internal Task<string?> IsolationProblemAsync() => _isolationProblem.Value;

    public string Name => ProviderName;

    public async Task<SandboxInfo> CreateAsync(SandboxCreateRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ThrowIfDisposed();
        if (string.IsNullOrWhiteSpace(request.OwnerUid))
        {
            throw new SandboxProviderException(ProviderName, "A local sandbox needs an owner UID", isTransient: false);
        }

        if (request.Ttl <= TimeSpan.Zero)
        {
            throw new SandboxProviderException(ProviderName, $"A local sandbox needs a positive TTL; got {request.Ttl}", isTransient: false);
        }

        await EnsureLoadedAsync(cancellationToken).ConfigureAwait(false);
        var id = LocalSandboxPaths.IdPrefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var now = _timeProvider.GetUtcNow();
        var labels = new Dictionary<string, string>(request.Labels, StringComparer.Ordinal)
        {
            [SandboxLabels.OwnerUid] = request.OwnerUid,
        };
        var metadata = new LocalSandboxMetadata
        {
            Id = id,
            OwnerUid = request.OwnerUid,
            Namespace = request.Namespace,
            Name = request.Name,
            ProjectId = request.ProjectId,
            Template = request.Template,
            Port = request.Port,
            Labels = labels,
            CreatedAt = now,
            EndAt = now + Min(request.Ttl, _options.MaxLifetime),
        };
        var sandbox = new LocalSandbox(metadata, Path.Combine(_root, id), SandboxState.Pending);
        try
        {
            Directory.CreateDirectory(sandbox.ProjectDirectory);
            Directory.CreateDirectory(sandbox.HomeDirectory);
            Directory.CreateDirectory(Path.GetDirectoryName(sandbox.LogFile)!);
            metadata.Write(sandbox.MetadataFile, sandbox.TempDirectory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            TryDeleteDirectory(sandbox.Directory);
            throw new SandboxProviderException(ProviderName, $"Could not create local sandbox under '{_root}': {ex.Message}", isTransient: true, ex);
        }

        _sandboxes[id] = sandbox;
        ArmEndTimer(sandbox);
        _logger.Created(id, request.Namespace, request.Name, request.OwnerUid, metadata.EndAt);
        return ToInfo(sandbox)!;
    }

    public async Task<SandboxInfo?> GetAsync(string sandboxId, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        var sandbox = await FindAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        return sandbox is null ? null : ToInfo(sandbox);
    }

    public async Task<IReadOnlyList<SandboxInfo>> ListAsync(string? ownerUid, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        await EnsureLoadedAsync(cancellationToken).ConfigureAwait(false);
        return _sandboxes.Values
            .Where(s => ownerUid is null || string.Equals(s.Metadata.OwnerUid, ownerUid, StringComparison.Ordinal))
            .Select(ToInfo)
            .OfType<SandboxInfo>()
            .OrderBy(i => i.CreatedAt)
            .ThenBy(i => i.Id, StringComparer.Ordinal)
            .ToList();
    }

    public async Task UploadFilesAsync(string sandboxId, IReadOnlyList<SandboxFile> files, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(files);
        ThrowIfDisposed();

        // all-or-nothing validation before touching the disk
        var targets = new List<(string Path, byte[] Content)>(files.Count);
        foreach (var file in files)
        {
            if (LocalSandboxPaths.Validate(file.Path) is { } reason)
            {
                throw new SandboxProviderException(ProviderName, $"Refused to upload '{Printable(file.Path)}': {reason}", isTransient: false);
            }

            targets.Add((file.Path, file.Content ?? []));
        }

        using var lease = await AcquireLiveAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        var sandbox = lease.Sandbox;
        long bytes = 0;
        foreach (var (relative, content) in targets)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var destination = LocalSandboxPaths.Resolve(sandbox.ProjectDirectory, relative)
                ?? throw new SandboxProviderException(ProviderName, $"Refused to upload '{Printable(relative)}': it leaves the project directory", isTransient: false);
            await WriteAtomicallyAsync(sandbox, relative, destination, content, cancellationToken).ConfigureAwait(false);
            bytes += content.Length;
        }

        _logger.Uploaded(sandbox.Id, targets.Count, bytes);
    }

    public async Task DeleteFilesAsync(string sandboxId, IReadOnlyList<string> paths, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(paths);
        ThrowIfDisposed();
        foreach (var path in paths)
        {
            if (LocalSandboxPaths.Validate(path) is { } reason)
            {
                throw new SandboxProviderException(ProviderName, $"Refused to delete '{Printable(path)}': {reason}", isTransient: false);
            }
        }

        using var lease = await AcquireLiveAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        foreach (var relative in paths)
        {
            var target = LocalSandboxPaths.Resolve(lease.Sandbox.ProjectDirectory, relative)
                ?? throw new SandboxProviderException(ProviderName, $"Refused to delete '{Printable(relative)}': it leaves the project directory", isTransient: false);
            File.Delete(target); // no-op when already gone
        }
    }

    public async Task StartAsync(string sandboxId, SandboxStartRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ThrowIfDisposed();
        if (request.Port is < 1 or > 65535)
        {
            throw new SandboxProviderException(ProviderName, $"Port must be between 1 and 65535; got {request.Port}", isTransient: false);
        }

        using var lease = await AcquireLiveAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        var sandbox = lease.Sandbox;
        var metadata = sandbox.Metadata;
        if (_timeProvider.GetUtcNow() >= metadata.EndAt)
        {
            throw new SandboxProviderException(
                ProviderName,
                $"Local sandbox '{sandbox.Id}' reached its end time {metadata.EndAt:O}; extend it or create a new one",
                isTransient: false);
        }

        var current = sandbox.Server;
        if (current is not null)
        {
            if (current.UnexpectedExitCode is null && sandbox.StartRequest is { } running && running.SameServerAs(request))
            {
                _logger.AlreadyRunning(sandbox.Id);
                return;
            }

            _logger.Restarting(sandbox.Id);
            await StopServerAsync(sandbox, cancellationToken).ConfigureAwait(false);
        }

        sandbox.State = SandboxState.Pending;
        var started = _timeProvider.GetTimestamp();
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        ILocalSandboxServer server;
        try
        {
            server = await StartServerAsync(sandbox, request, token, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            sandbox.State = SandboxState.Error;
            _logger.StartFailed(sandbox.Id, ex.Message);
            throw ex as SandboxProviderException
                  ?? new SandboxProviderException(ProviderName, $"Could not start local sandbox '{sandbox.Id}': {ex.Message}", isTransient: true, ex);
        }
        catch
        {
            sandbox.State = SandboxState.Stopped;
            throw;
        }

        sandbox.Server = server;
        sandbox.StartRequest = request;
        sandbox.Token = token;
        sandbox.State = SandboxState.Running;
        TryPersist(sandbox, sandbox.Metadata with
        {
            LastStartedAt = _timeProvider.GetUtcNow(),
            ServerPid = (server as LocalCommandServer)?.ProcessId,
        });
        _logger.Started(sandbox.Id, server.Mode, server.Port, request.Port, (long)_timeProvider.GetElapsedTime(started).TotalMilliseconds);
    }

    public async Task<PreviewEndpoint> GetPreviewAsync(string sandboxId, int port, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        using var lease = await AcquireLiveAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        var sandbox = lease.Sandbox;
        if (sandbox.Server is not { UnexpectedExitCode: null } server || sandbox.StartRequest is not { } request)
        {
            throw new SandboxProviderException(ProviderName, $"Local sandbox '{sandbox.Id}' is not running; start it first", isTransient: true);
        }

        if (request.Port != port)
        {
            throw new SandboxProviderException(
                ProviderName, $"Local sandbox '{sandbox.Id}' exposes port {request.Port} only; got {port}", isTransient: false);
        }

        var url = new UriBuilder(Uri.UriSchemeHttp, _options.EffectivePublicHost, server.Port, "/").Uri;
        return new PreviewEndpoint(url, sandbox.Token);
    }

    public async Task<DateTimeOffset?> ExtendAsync(string sandboxId, DateTimeOffset until, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        using var lease = await AcquireLiveAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        var sandbox = lease.Sandbox;
        var metadata = sandbox.Metadata;
        var cap = metadata.CreatedAt + _options.MaxLifetime;
        var endAt = Max(metadata.EndAt, Min(until, cap));
        if (endAt != metadata.EndAt)
        {
            TryPersist(sandbox, metadata with { EndAt = endAt });
            ArmEndTimer(sandbox);
            _logger.Extended(sandbox.Id, endAt);
        }

        return endAt;
    }

    public SandboxCapabilities Capabilities => SandboxCapabilities.Pause | SandboxCapabilities.FileManifest;

    /// <summary>Stops the dev server (or static server) and keeps the directory, so a resume needs no upload.</summary>
    public async Task<bool> PauseAsync(string sandboxId, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        var sandbox = await FindAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        if (sandbox is null)
        {
            return false;
        }

        await sandbox.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (sandbox.Deleted)
            {
                return false;
            }

            await StopServerAsync(sandbox, cancellationToken).ConfigureAwait(false);
            sandbox.State = SandboxState.Stopped;
            _logger.Paused(sandbox.Id);
            return true;
        }
        finally
        {
            sandbox.Gate.Release();
        }
    }

    /// <summary>
    /// Moves the end time to <paramref name="until"/> (a pause ends the old lifetime, so the cap counts from now) and
    /// reports Pending: the files are in place, and <see cref="StartAsync"/> starts the server again.
    /// </summary>
    public async Task<SandboxInfo?> ResumeAsync(string sandboxId, DateTimeOffset until, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        var sandbox = await FindAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        if (sandbox is null)
        {
            return null;
        }

        await sandbox.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (sandbox.Deleted || sandbox.State == SandboxState.Error || !System.IO.Directory.Exists(sandbox.ProjectDirectory))
            {
                return null;
            }

            var endAt = Min(until, _timeProvider.GetUtcNow() + _options.MaxLifetime);
            if (endAt != sandbox.Metadata.EndAt)
            {
                TryPersist(sandbox, sandbox.Metadata with { EndAt = endAt });
                ArmEndTimer(sandbox);
            }

            if (sandbox.Server is null)
            {
                sandbox.State = SandboxState.Pending;
            }

            _logger.Resumed(sandbox.Id, endAt);
            return ToInfo(sandbox);
        }
        finally
        {
            sandbox.Gate.Release();
        }
    }

    /// <summary>A local directory has no colder tier.</summary>
    public Task<bool> ArchiveAsync(string sandboxId, CancellationToken cancellationToken) =>
        throw new SandboxProviderException(ProviderName, "The local provider has no archive tier", isTransient: false);

    public async Task<IReadOnlyDictionary<string, string>?> GetFileManifestAsync(string sandboxId, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        var sandbox = await FindAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        if (sandbox is null || sandbox.Deleted)
        {
            return null;
        }

        await sandbox.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return sandbox.Deleted ? null : FileManifests.OfDirectory(sandbox.ProjectDirectory);
        }
        finally
        {
            sandbox.Gate.Release();
        }
    }

    /// <summary>Finds a sandbox and holds its gate; unknown or deleted while waiting → not found.</summary>
    private async Task<SandboxLease> AcquireLiveAsync(string sandboxId, CancellationToken cancellationToken)
    {
        var sandbox = await FindAsync(sandboxId, cancellationToken).ConfigureAwait(false) ?? throw NotFound(sandboxId);
        await sandbox.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (sandbox.Deleted)
        {
            sandbox.Gate.Release();
            throw NotFound(sandboxId);
        }

        return new SandboxLease(sandbox);
    }

    /// <summary>Releases the sandbox's gate when disposed.</summary>
    private readonly struct SandboxLease(LocalSandbox sandbox) : IDisposable
    {
        public LocalSandbox Sandbox => sandbox;

        public void Dispose() => sandbox.Gate.Release();
    }

    public async Task DeleteAsync(string sandboxId, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        if (!LocalSandboxPaths.IsValidId(sandboxId))
        {
            return; // not one of ours: nothing to delete, and never a path to touch
        }

        var sandbox = await FindAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        if (sandbox is null)
        {
            TryDeleteDirectory(Path.Combine(_root, sandboxId)); // leftovers without readable metadata
            return;
        }

        await sandbox.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (sandbox.Deleted)
            {
                return;
            }

            sandbox.Deleted = true;
            sandbox.EndTimer?.Dispose();
            await StopServerAsync(sandbox, CancellationToken.None).ConfigureAwait(false);
            _sandboxes.TryRemove(new KeyValuePair<string, LocalSandbox>(sandbox.Id, sandbox));
            try
            {
                Directory.Delete(sandbox.Directory, recursive: true);
            }
            catch (DirectoryNotFoundException)
            {
                // already gone
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new SandboxProviderException(ProviderName, $"Stopped local sandbox '{sandbox.Id}' but could not remove its directory: {ex.Message}", isTransient: true, ex);
            }

            _logger.Deleted(sandbox.Id);
        }
        finally
        {
            sandbox.Gate.Release();
        }
    }

    /// <summary>Stops every server and timer; directories stay (a new instance lists them as Stopped).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await Task.WhenAll(_sandboxes.Values.Select(async sandbox =>
        {
            await sandbox.Gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            try
            {
                sandbox.EndTimer?.Dispose();
                await StopServerAsync(sandbox, CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                sandbox.Gate.Release();
            }
        })).ConfigureAwait(false);
        await _fronts.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Test seam: the shared front server (one Kestrel for all sandboxes).</summary>
    internal LocalFrontServer Fronts => _fronts;

    private async Task<ILocalSandboxServer> StartServerAsync(
        LocalSandbox sandbox, SandboxStartRequest request, string token, CancellationToken cancellationToken)
    {
        var requiredToken = _options.RequireToken ? token : null;
        if (string.IsNullOrWhiteSpace(request.Command))
        {
            return await LocalStaticServer.StartAsync(
                _fronts, sandbox.ProjectDirectory, _bindAddress, requiredToken, _timeProvider, _options.StopGracePeriod, cancellationToken).ConfigureAwait(false);
        }

        if (await IsolationProblemAsync().ConfigureAwait(false) is { } problem)
        {
            _logger.IsolationUnavailable(sandbox.Id, problem);
            throw new SandboxProviderException(
                ProviderName,
                $"Refused to run spec.command: it runs only inside a bubblewrap sandbox, and {problem}. Use a static preview (no command) or a remote provider",
                isTransient: false) { Reason = Api.V1Alpha1.PreviewSandboxConditions.Reasons.IsolationUnavailable };
        }

        Directory.CreateDirectory(Path.GetDirectoryName(sandbox.LogFile)!);
        Directory.CreateDirectory(sandbox.HomeDirectory);
        await File.AppendAllTextAsync(
            sandbox.LogFile, $"--- midori: starting at {_timeProvider.GetUtcNow():O} ---{Environment.NewLine}", cancellationToken).ConfigureAwait(false);
        var launch = new LocalCommandLaunch(
            request.Command, request.Environment, sandbox.Directory, sandbox.LogFile, _marker + sandbox.Id,
            BubblewrapSandbox.Locate(_options.BubblewrapPath)!, _options.SandboxReadOnlyPaths, _bindAddress, requiredToken,
            _options.StartupTimeout, _options.StopGracePeriod);

        // the record before the wait: the pid is on disk before the server listens, and the argv marker covers the rest
        var server = await LocalCommandServer.StartAsync(
            _fronts,
            launch,
            pid => TryPersist(sandbox, sandbox.Metadata with { ServerPid = pid }),
            AfterSpawn,
            _timeProvider,
            cancellationToken).ConfigureAwait(false);
        server.ExitedUnexpectedly += code => OnServerExited(sandbox, code);
        if (server.UnexpectedExitCode is { } exitCode)
        {
            OnServerExited(sandbox, exitCode); // exited between the readiness check and the subscription
        }

        return server;
    }

    /// <summary>The dev server died by itself: tell the runtime at once, so status does not wait for the next health check.</summary>
    private void OnServerExited(LocalSandbox sandbox, int exitCode)
    {
        _logger.ServerExited(sandbox.Id, exitCode);
        var metadata = sandbox.Metadata;
        _deaths?.Report(new SandboxDeath(ProviderName, sandbox.Id, metadata.Namespace, metadata.Name, $"the dev server exited with code {exitCode}"));
    }

    /// <summary>Kills every sandboxed process of this root that no live instance owns (this instance owns none yet).</summary>
    private void ReapOrphans()
    {
        foreach (var pid in ProcessTree.WithMarker(_marker))
        {
            if (ProcessTree.Signal(pid, ProcessTree.SigKill))
            {
                _logger.KilledOrphan(pid, _root);
            }
        }
    }

    /// <summary>Caller holds the gate.</summary>
    private async Task StopServerAsync(LocalSandbox sandbox, CancellationToken cancellationToken)
    {
        var server = sandbox.Server;
        sandbox.Server = null;
        sandbox.StartRequest = null;
        sandbox.Token = null;
        if (sandbox.State != SandboxState.Error)
        {
            sandbox.State = SandboxState.Stopped;
        }

        if (server is null)
        {
            return;
        }

        try
        {
            await server.StopAsync(cancellationToken).ConfigureAwait(false);
            _logger.Stopped(sandbox.Id);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _logger.StopFailed(sandbox.Id, ex);
        }

        // the record goes only after the process: a crash in between leaves a record, never an unrecorded process
        if (sandbox.Metadata.ServerPid is not null && !sandbox.Deleted)
        {
            sandbox.Metadata = sandbox.Metadata with { ServerPid = null };
            TryWriteMetadata(sandbox);
        }
    }

    private void ArmEndTimer(LocalSandbox sandbox)
    {
        sandbox.EndTimer?.Dispose();
        var due = sandbox.Metadata.EndAt - _timeProvider.GetUtcNow();
        due = due < TimeSpan.Zero ? TimeSpan.Zero : Min(due, TimeSpan.FromDays(30));
        sandbox.EndTimer = _timeProvider.CreateTimer(
            static state =>
            {
                var (provider, target) = ((LocalSandboxProvider, LocalSandbox))state!;
                _ = Task.Run(() => provider.StopAtEndTimeAsync(target));
            },
            (this, sandbox),
            due,
            Timeout.InfiniteTimeSpan);
    }

    private async Task StopAtEndTimeAsync(LocalSandbox sandbox)
    {
        await sandbox.Gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            if (sandbox.Deleted || _disposed)
            {
                return;
            }

            var endAt = sandbox.Metadata.EndAt;
            if (_timeProvider.GetUtcNow() < endAt)
            {
                ArmEndTimer(sandbox); // extended meanwhile
                return;
            }

            var wasServing = sandbox.Server is not null;
            await StopServerAsync(sandbox, CancellationToken.None).ConfigureAwait(false);
            sandbox.State = SandboxState.Stopped;
            if (wasServing)
            {
                _logger.StoppedAtEndTime(sandbox.Id, endAt);
            }
        }
        finally
        {
            sandbox.Gate.Release();
        }
    }

    private SandboxInfo? ToInfo(LocalSandbox sandbox)
    {
        if (sandbox.Deleted)
        {
            return null;
        }

        var metadata = sandbox.Metadata;
        var state = sandbox.State;
        if (_timeProvider.GetUtcNow() >= metadata.EndAt)
        {
            state = SandboxState.Stopped; // the end-time timer may still be stopping the server
        }
        else if (sandbox.Server is { UnexpectedExitCode: not null })
        {
            state = SandboxState.Error;
        }

        return new SandboxInfo(metadata.Id, metadata.OwnerUid, state, metadata.CreatedAt, metadata.EndAt, metadata.Labels);
    }

    private async Task<LocalSandbox?> FindAsync(string sandboxId, CancellationToken cancellationToken)
    {
        if (!LocalSandboxPaths.IsValidId(sandboxId))
        {
            return null;
        }

        if (_sandboxes.TryGetValue(sandboxId, out var sandbox))
        {
            return sandbox;
        }

        await EnsureLoadedAsync(cancellationToken).ConfigureAwait(false);
        if (_sandboxes.TryGetValue(sandboxId, out sandbox))
        {
            return sandbox;
        }

        // created by an earlier instance after our scan (or by a test's second instance): load it on demand
        return TryLoad(Path.Combine(_root, sandboxId)) is { } loaded ? _sandboxes.GetOrAdd(sandboxId, loaded) : null;
    }

    private async Task EnsureLoadedAsync(CancellationToken cancellationToken)
    {
        if (_loaded)
        {
            return;
        }

        await _loadGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_loaded)
            {
                return;
            }

            var count = 0;
            if (Directory.Exists(_root))
            {
                foreach (var directory in Directory.EnumerateDirectories(_root))
                {
                    if (LocalSandboxPaths.IsValidId(Path.GetFileName(directory)) && TryLoad(directory) is { } sandbox
                        && _sandboxes.TryAdd(sandbox.Id, sandbox))
                    {
                        count++;
                    }
                }
            }

            _loaded = true;
            if (count > 0)
            {
                _logger.Loaded(count, _root);
            }
        }
        finally
        {
            _loadGate.Release();
        }
    }

    private LocalSandbox? TryLoad(string directory)
    {
        var path = Path.Combine(directory, LocalSandboxPaths.MetadataFileName);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            var metadata = LocalSandboxMetadata.Read(path);
            if (metadata is null || metadata.Id != Path.GetFileName(directory))
            {
                return null;
            }

            var sandbox = new LocalSandbox(metadata, directory, SandboxState.Stopped);
            if (metadata.ServerPid is not null)
            {
                // the process itself was reaped by marker when this instance started
                sandbox.Metadata = metadata with { ServerPid = null };
                TryWriteMetadata(sandbox);
            }

            ArmEndTimer(sandbox);
            return sandbox;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            _logger.SkippedMetadata(path, ex);
            return null;
        }
    }

    private async Task WriteAtomicallyAsync(LocalSandbox sandbox, string relative, string destination, byte[] content, CancellationToken cancellationToken)
    {
        if (Directory.Exists(destination))
        {
            throw new SandboxProviderException(ProviderName, $"Refused to upload '{Printable(relative)}': a directory of that name exists", isTransient: false);
        }

        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
        }
        catch (IOException ex)
        {
            throw new SandboxProviderException(ProviderName, $"Refused to upload '{Printable(relative)}': a parent of it is a file", isTransient: false, ex);
        }

        // temp files live outside project/, so the server never sees a half-written file, only the rename
        Directory.CreateDirectory(sandbox.TempDirectory);
        var temp = Path.Combine(sandbox.TempDirectory, Guid.NewGuid().ToString("N"));
        try
        {
            await File.WriteAllBytesAsync(temp, content, cancellationToken).ConfigureAwait(false);
            File.Move(temp, destination, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            TryDeleteFile(temp);
            throw new SandboxProviderException(ProviderName, $"Could not write '{Printable(relative)}' into local sandbox '{sandbox.Id}': {ex.Message}", isTransient: true, ex);
        }
        catch
        {
            TryDeleteFile(temp);
            throw;
        }
    }

    /// <summary>Caller holds the gate.</summary>
    private void TryPersist(LocalSandbox sandbox, LocalSandboxMetadata metadata)
    {
        sandbox.Metadata = metadata;
        try
        {
            metadata.Write(sandbox.MetadataFile, sandbox.TempDirectory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SandboxProviderException(ProviderName, $"Could not update metadata of local sandbox '{sandbox.Id}': {ex.Message}", isTransient: true, ex);
        }
    }

    /// <summary>Best effort: a stale pid in sandbox.json is re-checked against /proc before anything is killed.</summary>
    private static void TryWriteMetadata(LocalSandbox sandbox)
    {
        try
        {
            sandbox.Metadata.Write(sandbox.MetadataFile, sandbox.TempDirectory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // keep going; the in-memory metadata is current
        }
    }

    private static SandboxProviderException NotFound(string sandboxId) =>
        new(ProviderName, $"Local sandbox '{Printable(sandboxId)}' not found; it was deleted or never existed", isTransient: false);

    private static string Printable(string? value)
    {
        if (value is null)
        {
            return "";
        }

        var clean = new string(value.Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return clean.Length > 200 ? clean[..200] + "…" : clean;
    }

    private static void TryDeleteDirectory(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // best effort
        }
    }

    private static void TryDeleteFile(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // best effort
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;
}
