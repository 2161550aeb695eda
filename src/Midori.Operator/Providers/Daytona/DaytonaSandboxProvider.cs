using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Files;

namespace Midori.Operator.Providers.Daytona;

/// <summary>
/// <c>daytona</c>: one Daytona sandbox per PreviewSandbox, driven through the control-plane API and the in-sandbox
/// toolbox (see <c>../shared/specs/PROVIDERS.md</c> §1).
/// <list type="bullet">
/// <item>Create: from <c>spec.template</c> as a snapshot (or a Dockerfile as <c>buildInfo</c>), labeled with the owner UID
/// and this installation, auto-stop just past the idle timeout (a safety net: the operator owns expiry), auto-delete
/// after stop. The name is derived from the owner UID and the recreation count, so a create repeated after a crash
/// collides (409) with the first one and adopts it, even while the eventually consistent list does not show it yet.</item>
/// <item>Files: bulk upload through the toolbox, one multipart request per bounded batch.</item>
/// <item>Dev server: a session per start request, command run with <c>runAsync</c>; an identical running one is left alone.</item>
/// <item>Preview: URL and token read from the API on every call (the token changes when a sandbox restarts).</item>
/// </list>
/// 404 means gone (null / no-op). Failures raise <see cref="SandboxProviderException"/> with a message fit for status.
/// </summary>
internal sealed partial class DaytonaSandboxProvider : ISandboxProvider
{
    /// <summary>Names tried per owner (<c>midori-{uid}</c>, <c>midori-{uid}-2</c>, …) before giving up.</summary>
    internal const int NameCandidates = 8;

    internal const string SessionPrefix = "midori-dev-";

    private const string NamePrefix = "midori-";

    private readonly DaytonaApiClient _api;
    private readonly DaytonaToolboxClient _toolbox;
    private readonly DaytonaProviderOptions _options;
    private readonly string _installation;
    private readonly IProviderHealth _health;
    private readonly TimeProvider _time;
    private readonly ILogger<DaytonaSandboxProvider> _logger;
    private readonly ISandboxDeathNotifier? _deaths;

    /// <summary>Toolbox base of sandboxes seen <c>started</c>; dropped on any toolbox failure so the state is read again.</summary>
    private readonly ConcurrentDictionary<string, Uri> _readyToolbox = new(StringComparer.Ordinal);

    public DaytonaSandboxProvider(
        DaytonaApiClient api,
        DaytonaToolboxClient toolbox,
        IOptions<DaytonaProviderOptions> options,
        IOptions<ProvidersOptions> common,
        IProviderHealth health,
        TimeProvider time,
        ILogger<DaytonaSandboxProvider> logger,
        ISandboxDeathNotifier? deaths = null)
    {
        _deaths = deaths;
        _api = api;
        _toolbox = toolbox;
        _options = options.Value;
        _installation = common.Value.InstallationId;
        _health = health;
        _time = time;
        _logger = logger;
        if (!_options.HasApiKey)
        {
            _logger.CredentialsMissing();
            ReportCredentialsMissing();
        }
    }

    public string Name => ProviderNames.Daytona;

    internal static string CredentialsMissingMessage =>
        $"No Daytona API key is configured: set Providers__Daytona__ApiKey or {DaytonaProviderOptions.ApiKeyEnvironmentVariable} (for example from a Secret) and restart the operator";

    public async Task<SandboxInfo> CreateAsync(SandboxCreateRequest request, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        if (string.IsNullOrWhiteSpace(request.OwnerUid))
        {
            throw Permanent("A Daytona sandbox needs an owner UID");
        }

        var labels = new Dictionary<string, string>(request.Labels, StringComparer.Ordinal)
        {
            [SandboxLabels.OwnerUid] = request.OwnerUid,
            [SandboxLabels.Installation] = _installation,
        };
        var (snapshot, buildInfo) = ImageFor(request.Template);
        var autoStop = AutoStopMinutes(request.IdleTimeout);
        for (var candidate = 0; candidate < NameCandidates; candidate++)
        {
            var name = SandboxName(request.OwnerUid, request.Recreations, candidate);
            var created = await _api.CreateSandboxAsync(new DaytonaCreateSandbox
            {
                Name = name,
                Snapshot = snapshot,
                BuildInfo = buildInfo,
                Target = string.IsNullOrWhiteSpace(_options.Target) ? null : _options.Target,
                Labels = labels,
                Public = false,
                AutoStopInterval = autoStop,
                AutoDeleteInterval = _options.AutoDeleteMinutes,
            }, cancellationToken).ConfigureAwait(false);
            if (created is not null)
            {
                _logger.Created(created.Id, name, created.State, request.OwnerUid, autoStop);
                return ToInfo(created);
            }

            // 409: the name is taken. Ours from an attempt that crashed mid-create → adopt it; otherwise try the next name.
            var existing = await _api.GetSandboxAsync(name, cancellationToken).ConfigureAwait(false);
            if (existing is null || DaytonaStates.IsGone(existing))
            {
                _logger.NameTaken(name, existing?.State ?? "destroyed");
                continue;
            }

            if (existing.OwnerUid == request.OwnerUid && DaytonaStates.Map(existing.State) is SandboxState.Running or SandboxState.Pending)
            {
                _logger.AdoptedByName(existing.Id, name, existing.State, request.OwnerUid);
                return ToInfo(existing);
            }

            _logger.NameTaken(name, existing.State);
            if (existing.OwnerUid == request.OwnerUid)
            {
                await TryDeleteUnusableAsync(existing, request.OwnerUid, cancellationToken).ConfigureAwait(false);
            }
        }

        throw Permanent($"Every Daytona sandbox name for this resource ({SandboxName(request.OwnerUid, request.Recreations, 0)} … -{NameCandidates}) is held by a sandbox that cannot be reused; delete those sandboxes");
    }

    public async Task<SandboxInfo?> GetAsync(string sandboxId, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        var sandbox = await _api.GetSandboxAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        if (sandbox is null || DaytonaStates.IsGone(sandbox))
        {
            _readyToolbox.TryRemove(sandboxId, out _);
            return null;
        }

        if (DaytonaStates.Map(sandbox.State) != SandboxState.Running)
        {
            _readyToolbox.TryRemove(sandboxId, out _);
        }

        return ToInfo(sandbox);
    }

    /// <summary>
    /// Lists by label (the spec's list is "eventually consistent"). Items are checked against the filter again here, and
    /// for one owner each hit is confirmed with a read by id, so a just-deleted sandbox is never adopted. A sandbox created
    /// moments ago may still be missing: <see cref="CreateAsync"/> covers that with its UID-derived name.
    /// </summary>
    public async Task<IReadOnlyList<SandboxInfo>> ListAsync(string? ownerUid, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        var filter = ownerUid is null
            ? new Dictionary<string, string>(StringComparer.Ordinal) { [SandboxLabels.Installation] = _installation }
            : new Dictionary<string, string>(StringComparer.Ordinal) { [SandboxLabels.OwnerUid] = ownerUid };
        var listed = await _api.ListSandboxesAsync(filter, cancellationToken).ConfigureAwait(false);
        var result = new List<SandboxInfo>();
        foreach (var sandbox in listed.DistinctBy(s => s.Id))
        {
            if (DaytonaStates.IsGone(sandbox) || !filter.All(f => sandbox.Labels?.GetValueOrDefault(f.Key) == f.Value))
            {
                continue;
            }

            if (ownerUid is null)
            {
                result.Add(ToInfo(sandbox));
                continue;
            }

            var confirmed = await _api.GetSandboxAsync(sandbox.Id, cancellationToken).ConfigureAwait(false);
            if (confirmed is not null && !DaytonaStates.IsGone(confirmed) && confirmed.OwnerUid == ownerUid)
            {
                result.Add(ToInfo(confirmed));
            }
        }

        return result;
    }

    public async Task UploadFilesAsync(string sandboxId, IReadOnlyList<SandboxFile> files, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        if (files.Count == 0)
        {
            return;
        }

        var absolute = files.Select(f => new SandboxFile(SandboxPath(f.Path, "upload"), f.Content)).ToList();
        var batches = FileBatches.Split(absolute, _options.UploadBatchBytes, _options.UploadBatchFiles);
        var toolbox = await ReadyToolboxAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        await ToolboxCallAsync(sandboxId, () => Parallel.ForEachAsync(batches,
            new ParallelOptions { MaxDegreeOfParallelism = _options.RequestConcurrency, CancellationToken = cancellationToken },
            async (batch, token) => await _toolbox.BulkUploadAsync(toolbox, [.. batch.Select(f => (f.Path, f.Content))], sandboxId, token).ConfigureAwait(false)))
            .ConfigureAwait(false);
        _logger.Uploaded(sandboxId, files.Count, files.Sum(f => (long)f.Content.Length), batches.Count);
    }

    public async Task DeleteFilesAsync(string sandboxId, IReadOnlyList<string> paths, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        if (paths.Count == 0)
        {
            return;
        }

        var absolute = paths.Select(p => SandboxPath(p, "delete")).Distinct(StringComparer.Ordinal).ToList();
        var toolbox = await ReadyToolboxAsync(sandboxId, cancellationToken).ConfigureAwait(false);

        // The toolbox deletes one path per request; bounded concurrency keeps a large delta fast without a burst.
        await ToolboxCallAsync(sandboxId, () => Parallel.ForEachAsync(absolute,
            new ParallelOptions { MaxDegreeOfParallelism = _options.RequestConcurrency, CancellationToken = cancellationToken },
            async (path, token) => await _toolbox.DeleteFileAsync(toolbox, path, sandboxId, token).ConfigureAwait(false)))
            .ConfigureAwait(false);
        _logger.DeletedFiles(sandboxId, absolute.Count);
    }

    public async Task StartAsync(string sandboxId, SandboxStartRequest request, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        if (request.Port is < 1 or > 65535)
        {
            throw Permanent($"Port must be between 1 and 65535; got {request.Port}");
        }

        var command = DevServerCommand(request);
        var sessionId = SessionId(command);
        var toolbox = await ReadyToolboxAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        await ToolboxCallAsync(sandboxId, async () =>
        {
            var sessions = await _toolbox.ListSessionsAsync(toolbox, sandboxId, cancellationToken).ConfigureAwait(false);
            var ours = sessions.Where(s => s.SessionId?.StartsWith(SessionPrefix, StringComparison.Ordinal) == true).ToList();
            var current = ours.FirstOrDefault(s => s.SessionId == sessionId);
            if (current?.Commands?.Any(c => c.ExitCode is null) == true)
            {
                _logger.AlreadyRunning(sandboxId, sessionId);
                return;
            }

            // Another start request ran before (spec changed): ending its session stops that server and frees the port.
            foreach (var old in ours.Where(s => s.SessionId != sessionId))
            {
                await _toolbox.DeleteSessionAsync(toolbox, old.SessionId!, sandboxId, cancellationToken).ConfigureAwait(false);
                _logger.StoppedOldSession(sandboxId, old.SessionId!);
            }

            if (current is null)
            {
                await _toolbox.CreateSessionAsync(toolbox, sessionId, sandboxId, cancellationToken).ConfigureAwait(false);
            }

            var started = _time.GetTimestamp();
            var commandId = await _toolbox.ExecuteAsyncCommandAsync(toolbox, sessionId, command, sandboxId, cancellationToken).ConfigureAwait(false);
            await WaitForPortAsync(toolbox, sandboxId, sessionId, commandId, request.Port, cancellationToken).ConfigureAwait(false);
            _logger.Started(sandboxId, sessionId, commandId, request.Port, (long)_time.GetElapsedTime(started).TotalMilliseconds);
        }).ConfigureAwait(false);
    }

    public async Task<PreviewEndpoint> GetPreviewAsync(string sandboxId, int port, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        if (port is < 1 or > 65535)
        {
            throw Permanent($"Port must be between 1 and 65535; got {port}");
        }

        var preview = await _api.GetPreviewUrlAsync(sandboxId, port, cancellationToken).ConfigureAwait(false)
            ?? throw Permanent($"Daytona sandbox {sandboxId} no longer exists; no preview URL");
        if (!Uri.TryCreate(preview.Url, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttp))
        {
            throw Permanent($"Daytona returned a preview URL for sandbox {sandboxId} port {port} that is not an absolute http(s) URL: '{Printable(preview.Url)}'");
        }

        return new PreviewEndpoint(url, string.IsNullOrEmpty(preview.Token) ? null : preview.Token);
    }

    /// <summary>
    /// Keep-alive: resets Daytona's auto-stop timer. Daytona has no end time to move (the operator owns TTL and idle
    /// expiry), so the answer is null; a gone sandbox is a no-op.
    /// </summary>
    public async Task<DateTimeOffset?> ExtendAsync(string sandboxId, DateTimeOffset until, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        if (await _api.UpdateLastActivityAsync(sandboxId, cancellationToken).ConfigureAwait(false))
        {
            _logger.KeptAlive(sandboxId);
        }
        else
        {
            // 404 on the keep-alive: the sandbox is gone; the runtime reconciles its owner now, not at the next health check
            _deaths?.Report(new SandboxDeath(Name, sandboxId, null, null, "the keep-alive answered 404"));
        }

        return null;
    }

    public async Task DeleteAsync(string sandboxId, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        _readyToolbox.TryRemove(sandboxId, out _);
        var outcome = await _api.DeleteSandboxAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        if (outcome == DeleteOutcome.StateChangeInProgress)
        {
            // 409 "state change in progress": fine if that change is the destruction; otherwise retry later.
            var current = await _api.GetSandboxAsync(sandboxId, cancellationToken).ConfigureAwait(false);
            if (current is not null && !DaytonaStates.IsGone(current))
            {
                throw new SandboxProviderException(Name,
                    $"Daytona sandbox {sandboxId} is changing state ({current.State}); its deletion is retried", isTransient: true);
            }

            outcome = DeleteOutcome.NotFound;
        }

        _logger.Deleted(sandboxId, outcome == DeleteOutcome.NotFound ? "already gone" : "destroying");
    }

    public SandboxCapabilities Capabilities => SandboxCapabilities.Pause | SandboxCapabilities.Archive | SandboxCapabilities.FileManifest;

    /// <summary>
    /// Stop keeps the disk and clears memory. Auto-delete is switched off first: with the configured interval (0 is
    /// ephemeral) Daytona would delete the stopped sandbox, and the operator owns the paused retention.
    /// </summary>
    public async Task<bool> PauseAsync(string sandboxId, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        _readyToolbox.TryRemove(sandboxId, out _);
        if (await _api.ChangeStateAsync(sandboxId, "autodelete/-1", cancellationToken).ConfigureAwait(false) is null)
        {
            return false;
        }

        var stopped = await _api.ChangeStateAsync(sandboxId, "stop", cancellationToken).ConfigureAwait(false);
        if (stopped is null || DaytonaStates.IsGone(stopped))
        {
            return false;
        }

        _logger.Paused(sandboxId, stopped.State);
        return true;
    }

    /// <summary>Start restores a stopped or archived sandbox (Daytona waits up to 30 s); auto-delete goes back to the configured value.</summary>
    public async Task<SandboxInfo?> ResumeAsync(string sandboxId, DateTimeOffset until, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        var current = await _api.GetSandboxAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        if (current is null || DaytonaStates.IsGone(current) || DaytonaStates.Map(current.State) == SandboxState.Error)
        {
            return null;
        }

        var started = DaytonaStates.Map(current.State) == SandboxState.Running
            ? current
            : await _api.ChangeStateAsync(sandboxId, "start", cancellationToken).ConfigureAwait(false);
        if (started is null || DaytonaStates.IsGone(started))
        {
            return null;
        }

        await _api.ChangeStateAsync(sandboxId, $"autodelete/{_options.AutoDeleteMinutes.ToString(System.Globalization.CultureInfo.InvariantCulture)}", cancellationToken)
            .ConfigureAwait(false);
        _logger.Resumed(sandboxId, started.State);
        return ToInfo(started);
    }

    public async Task<bool> ArchiveAsync(string sandboxId, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        var archived = await _api.ChangeStateAsync(sandboxId, "archive", cancellationToken).ConfigureAwait(false);
        return archived is not null && !DaytonaStates.IsGone(archived);
    }

    public async Task<IReadOnlyDictionary<string, string>?> GetFileManifestAsync(string sandboxId, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        var sandbox = await _api.GetSandboxAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        if (sandbox is null || DaytonaStates.IsGone(sandbox))
        {
            return null;
        }

        var toolbox = await ReadyToolboxAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        DaytonaCommandResult? result = null;
        await ToolboxCallAsync(sandboxId, async () => result = await _toolbox.ExecuteAsync(toolbox, FileManifests.Command(_options.ProjectDirectory), cwd: null,
            timeoutSeconds: 60, sandboxId, cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
        if (result!.ExitCode is { } code && code != 0)
        {
            throw new SandboxProviderException(Name, $"Reading the file manifest of Daytona sandbox {sandboxId} failed with exit code {code}", isTransient: true);
        }

        return FileManifests.Parse(result.Result);
    }

    // ---- helpers ------------------------------------------------------------------------------------------------

    /// <summary>
    /// <c>midori-{uid}</c> for the first sandbox, <c>midori-{uid}-r{n}</c> for the n-th replacement (so it never meets the
    /// name of the one being destroyed), <c>…-2</c>, <c>…-3</c> when a name is held by a sandbox that cannot be reused.
    /// </summary>
    internal static string SandboxName(string ownerUid, int recreations, int candidate)
    {
        var name = recreations <= 0 ? NamePrefix + ownerUid : $"{NamePrefix}{ownerUid}-r{recreations}";
        return candidate == 0 ? name : $"{name}-{candidate + 1}";
    }

    internal int AutoStopMinutes(TimeSpan idleTimeout) =>
        Math.Max(1, (int)Math.Ceiling((idleTimeout + _options.AutoStopMargin).TotalMinutes));

    /// <summary>
    /// <c>spec.template</c> → snapshot or build: <c>image:REF</c> builds <c>FROM REF</c>; <c>dockerfile:…</c> or text whose
    /// first line is a <c>FROM</c> is a Dockerfile; anything else names a snapshot. Empty: the configured default.
    /// </summary>
    internal (string? Snapshot, DaytonaBuildInfo? Build) ImageFor(string? template)
    {
        var value = template?.Trim();
        if (string.IsNullOrEmpty(value))
        {
            return (string.IsNullOrWhiteSpace(_options.DefaultSnapshot) ? null : _options.DefaultSnapshot, null);
        }

        if (value.StartsWith("image:", StringComparison.OrdinalIgnoreCase))
        {
            return (null, new DaytonaBuildInfo($"FROM {value["image:".Length..].Trim()}\n"));
        }

        if (value.StartsWith("dockerfile:", StringComparison.OrdinalIgnoreCase))
        {
            return (null, new DaytonaBuildInfo(value["dockerfile:".Length..].TrimStart() + "\n"));
        }

        return value.Contains('\n', StringComparison.Ordinal) && value.StartsWith("FROM ", StringComparison.OrdinalIgnoreCase)
            ? (null, new DaytonaBuildInfo(value + "\n"))
            : (value, null);
    }

    /// <summary>The shell line run in the session: exports, then the command in the project directory. Holds env values: never log it.</summary>
    internal string DevServerCommand(SandboxStartRequest request)
    {
        var line = new StringBuilder();
        var environment = new SortedDictionary<string, string>(request.Environment.ToDictionary(), StringComparer.Ordinal);
        environment.TryAdd("PORT", request.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (var (name, value) in environment)
        {
            if (!EnvironmentName().IsMatch(name))
            {
                throw Permanent($"Environment variable name '{Printable(name)}' is not a valid shell name");
            }

            line.Append("export ").Append(name).Append('=').Append(ShellQuote(value)).Append("; ");
        }

        var directory = ShellQuote(_options.ProjectDirectory);
        var command = string.IsNullOrWhiteSpace(request.Command)
            ? _options.StaticServerCommand.Replace("{port}", request.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
            : request.Command;
        line.Append("mkdir -p ").Append(directory).Append(" && cd ").Append(directory).Append(" && ").Append(command);
        return line.ToString();
    }

    /// <summary>One session per distinct start request, so "already running this exact request" is a lookup.</summary>
    internal static string SessionId(string command) =>
        SessionPrefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(command)))[..16];

    private async Task WaitForPortAsync(Uri toolbox, string sandboxId, string sessionId, string? commandId, int port, CancellationToken cancellationToken)
    {
        // The spec documents /port/{port}/in-use for 3000–9999 only; outside that range the health probe has to tell.
        if (port is < 3000 or > 9999 || _options.DevServerTimeout <= TimeSpan.Zero)
        {
            return;
        }

        var deadline = _time.GetUtcNow() + _options.DevServerTimeout;
        while (true)
        {
            if (await _toolbox.IsPortInUseAsync(toolbox, port, sandboxId, cancellationToken).ConfigureAwait(false))
            {
                return;
            }

            if (commandId is not null
                && await _toolbox.GetCommandAsync(toolbox, sessionId, commandId, sandboxId, cancellationToken).ConfigureAwait(false) is { ExitCode: { } exitCode })
            {
                throw Permanent($"The dev server in Daytona sandbox {sandboxId} exited with code {exitCode} before listening on port {port}; see the session logs of {sessionId}");
            }

            if (_time.GetUtcNow() >= deadline)
            {
                throw new SandboxProviderException(Name,
                    $"The dev server in Daytona sandbox {sandboxId} is not listening on port {port} after {_options.DevServerTimeout.TotalSeconds:0}s", isTransient: true);
            }

            await Task.Delay(_options.PollInterval, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The toolbox base of a started sandbox, waiting (bounded) while Daytona is still creating or starting it.</summary>
    private async Task<Uri> ReadyToolboxAsync(string sandboxId, CancellationToken cancellationToken)
    {
        if (_readyToolbox.TryGetValue(sandboxId, out var known))
        {
            return known;
        }

        var deadline = _time.GetUtcNow() + _options.StartTimeout;
        while (true)
        {
            var sandbox = await _api.GetSandboxAsync(sandboxId, cancellationToken).ConfigureAwait(false);
            if (sandbox is null || DaytonaStates.IsGone(sandbox))
            {
                throw Permanent($"Daytona sandbox {sandboxId} no longer exists");
            }

            switch (DaytonaStates.Map(sandbox.State))
            {
                case SandboxState.Running:
                    var toolbox = ToolboxBase(sandbox);
                    _readyToolbox[sandboxId] = toolbox;
                    return toolbox;
                case SandboxState.Error:
                    throw Permanent($"Daytona sandbox {sandboxId} failed ({sandbox.State}){(string.IsNullOrWhiteSpace(sandbox.ErrorReason) ? string.Empty : ": " + Printable(sandbox.ErrorReason))}");
                case SandboxState.Stopped:
                    throw Permanent($"Daytona sandbox {sandboxId} is {sandbox.State}, not started");
            }

            if (_time.GetUtcNow() >= deadline)
            {
                throw new SandboxProviderException(Name, $"Daytona sandbox {sandboxId} is still {sandbox.State} after {_options.StartTimeout.TotalSeconds:0}s", isTransient: true);
            }

            _logger.WaitingForStart(sandboxId, sandbox.State);
            await Task.Delay(_options.PollInterval, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private Uri ToolboxBase(DaytonaSandbox sandbox)
    {
        string url;
        if (!string.IsNullOrWhiteSpace(_options.ToolboxUrl))
        {
            url = _options.ToolboxUrl.Replace("{sandboxId}", Uri.EscapeDataString(sandbox.Id), StringComparison.Ordinal);
        }
        else if (!string.IsNullOrWhiteSpace(sandbox.ToolboxProxyUrl))
        {
            url = sandbox.ToolboxProxyUrl.TrimEnd('/') + "/" + Uri.EscapeDataString(sandbox.Id);
        }
        else
        {
            throw Permanent($"Daytona returned no toolboxProxyUrl for sandbox {sandbox.Id}");
        }

        if (!Uri.TryCreate(url.EndsWith('/') ? url : url + "/", UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            throw Permanent($"The toolbox URL for Daytona sandbox {sandbox.Id} is not an absolute http(s) URL: '{Printable(url)}'");
        }

        return uri;
    }

    /// <summary>Runs toolbox calls; on failure forgets that the sandbox was ready, so the next call reads its state again.</summary>
    private async Task ToolboxCallAsync(string sandboxId, Func<Task> call)
    {
        try
        {
            await call().ConfigureAwait(false);
        }
        catch (SandboxProviderException)
        {
            _readyToolbox.TryRemove(sandboxId, out _);
            throw;
        }
    }

    private async Task TryDeleteUnusableAsync(DaytonaSandbox sandbox, string ownerUid, CancellationToken cancellationToken)
    {
        try
        {
            await DeleteAsync(sandbox.Id, cancellationToken).ConfigureAwait(false);
        }
        catch (SandboxProviderException ex)
        {
            _logger.CleanupFailed(sandbox.Id, ownerUid, ex.Message);
        }
    }

    private string SandboxPath(string path, string action)
    {
        if (!ProjectPath.TryNormalize(path, out var normalized, out var reason))
        {
            throw Permanent($"Refused to {action} '{Printable(path)}': {reason}");
        }

        return _options.ProjectDirectory.TrimEnd('/') + "/" + normalized;
    }

    private SandboxInfo ToInfo(DaytonaSandbox sandbox) =>
        new(sandbox.Id, sandbox.OwnerUid, DaytonaStates.Map(sandbox.State), sandbox.CreatedAtTime, sandbox.AutoDestroyAtTime, sandbox.Labels);

    private void EnsureCredentials()
    {
        if (!_options.HasApiKey)
        {
            ReportCredentialsMissing();
            throw Permanent(CredentialsMissingMessage);
        }
    }

    private void ReportCredentialsMissing() =>
        _health.Report(Name, available: false, ProviderHealthReasons.CredentialsMissing, CredentialsMissingMessage);

    private SandboxProviderException Permanent(string message) => new(Name, message, isTransient: false);

    private static string ShellQuote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static string Printable(string? value) =>
        value is null ? string.Empty : new string([.. value.Take(200).Select(c => char.IsControl(c) ? '?' : c)]);

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvironmentName();
}

/// <summary>Daytona's 22 sandbox states (and any newer value) mapped to ours.</summary>
internal static class DaytonaStates
{
    /// <summary>Destroyed, being destroyed, or asked to be: treated as gone everywhere.</summary>
    public static bool IsGone(DaytonaSandbox sandbox) =>
        sandbox.State is "destroyed" or "destroying" || sandbox.DesiredState == "destroyed";

    public static SandboxState Map(string? state) => state switch
    {
        "started" => SandboxState.Running,
        "stopped" or "stopping" or "archived" or "archiving" or "paused" or "pausing" or "destroyed" or "destroying" => SandboxState.Stopped,
        "error" or "build_failed" => SandboxState.Error,

        // creating, restoring, starting, pending_build, building_snapshot, pulling_snapshot, resizing, snapshotting,
        // forking, resuming, unknown — and values newer than the spec: on the way, not serving for sure.
        _ => SandboxState.Pending,
    };
}
