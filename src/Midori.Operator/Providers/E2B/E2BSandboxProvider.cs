using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Files;

namespace Midori.Operator.Providers.E2B;

/// <summary>
/// Sandboxes on E2B: its control-plane REST API for a sandbox's life, envd (the in-sandbox daemon) for files and processes.
/// <list type="bullet">
/// <item>Create: <c>templateID</c> from spec.template (or the default), <c>timeout</c> = the TTL (E2B's end time is
/// absolute), metadata carrying the owner UID plus a managed-by marker, read back with GET for <c>endAt</c>.</item>
/// <item>Files: multipart batches to envd <c>POST /files</c>; removals through <c>filesystem.Filesystem/Remove</c>.</item>
/// <item>Dev server: <c>process.Process/Start</c> with a fixed tag and no deadline (envd kills a process when its
/// <c>Connect-Timeout-Ms</c> elapses); an identical tagged process is left alone, a different one is replaced.</item>
/// <item>Extend: <c>/refreshes</c> (extends only) up to an hour ahead, <c>/timeout</c> beyond; never shortens.</item>
/// <item>Gone: 404 from the API (killed or past <c>endAt</c>).</item>
/// </list>
/// Without an API key the provider still registers; every call fails with a clear permanent error and the provider's
/// health reads CredentialsMissing.
/// </summary>
public sealed class E2BSandboxProvider : ISandboxProvider
{
    public const string ProviderName = ProviderNames.E2B;

    /// <summary>envd process tag of the dev server, so a restart of the operator finds it again.</summary>
    public const string DevServerTag = "midori-dev-server";

    /// <summary>Named HttpClient for readiness checks of the preview host (not the provider pipeline: 502 is an answer here).</summary>
    public const string PreviewHttpClientName = "e2b-preview";

    /// <summary><c>SandboxRefreshRequest.duration</c> maximum.</summary>
    internal const int MaxRefreshSeconds = 3600;

    private const int StderrTailBytes = 2048;

    private readonly E2BApiClient _api;
    private readonly E2BEnvdClient _envd;
    private readonly IHttpClientFactory _httpClients;
    private readonly E2BProviderOptions _options;
    private readonly string _installation;
    private readonly IProviderHealth _health;
    private readonly TimeProvider _time;
    private readonly ILogger<E2BSandboxProvider> _logger;
    private readonly ISandboxDeathNotifier? _deaths;

    // Tokens per sandbox: the traffic token is returned only by create and connect, so it is remembered.
    private readonly ConcurrentDictionary<string, SandboxAccess> _access = new(StringComparer.Ordinal);

    public E2BSandboxProvider(E2BApiClient api, E2BEnvdClient envd, IHttpClientFactory httpClients, IOptions<E2BProviderOptions> options,
        IOptions<ProvidersOptions> common, IProviderHealth health, TimeProvider time, ILogger<E2BSandboxProvider> logger,
        ISandboxDeathNotifier? deaths = null)
    {
        _deaths = deaths;
        // Scopes list and orphan sweep to this operator installation: clusters sharing one E2B team never touch each other's sandboxes.
        _installation = common.Value.InstallationId;
        _api = api;
        _envd = envd;
        _httpClients = httpClients;
        _options = options.Value;
        _health = health;
        _time = time;
        _logger = logger;
        if (!_options.HasApiKey)
        {
            ReportCredentialsMissing();
            _logger.CredentialsMissing();
        }
    }

    public string Name => ProviderName;

    public async Task<SandboxInfo> CreateAsync(SandboxCreateRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        EnsureCredentials();
        if (string.IsNullOrWhiteSpace(request.OwnerUid))
        {
            throw new SandboxProviderException(ProviderName, "An E2B sandbox needs an owner UID", isTransient: false);
        }

        if (request.Ttl <= TimeSpan.Zero)
        {
            throw new SandboxProviderException(ProviderName, $"An E2B sandbox needs a positive TTL; got {request.Ttl}", isTransient: false);
        }

        var template = string.IsNullOrWhiteSpace(request.Template) ? _options.DefaultTemplate : request.Template.Trim();
        var timeout = (int)Math.Min(int.MaxValue, Math.Ceiling(request.Ttl.TotalSeconds));
        var metadata = new Dictionary<string, string>(request.Labels, StringComparer.Ordinal)
        {
            [SandboxLabels.OwnerUid] = request.OwnerUid,
            [SandboxLabels.ProviderManagedBy] = SandboxLabels.ManagedByOperator,
            [SandboxLabels.Installation] = _installation,
        };
        var requestedAt = _time.GetUtcNow();
        var created = await _api.CreateAsync(
            new NewSandbox(template, timeout, AutoPause: false, _options.Secure,
                _options.AllowPublicTraffic ? null : new SandboxNetworkConfig(AllowPublicTraffic: false), metadata),
            cancellationToken).ConfigureAwait(false);
        _access[created.SandboxId] = new SandboxAccess(created.EnvdAccessToken, created.TrafficAccessToken, created.Domain);

        // The create answer has no end time; read it back so status.expiresAt is E2B's own.
        E2BSandboxDetail? detail = null;
        try
        {
            detail = await _api.GetAsync(created.SandboxId, cancellationToken).ConfigureAwait(false);
        }
        catch (SandboxProviderException ex) when (ex.IsTransient)
        {
            _logger.ReadBackFailed(created.SandboxId, requestedAt + request.Ttl, ex.Message);
        }

        var info = detail is not null
            ? ToInfo(detail)
            : new SandboxInfo(created.SandboxId, request.OwnerUid, SandboxState.Running, requestedAt, requestedAt + request.Ttl, metadata);
        _logger.Created(info.Id, template, request.Namespace, request.Name, request.OwnerUid, info.EndAt);
        return info;
    }

    public async Task<SandboxInfo?> GetAsync(string sandboxId, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        var detail = await _api.GetAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        if (detail is null)
        {
            _access.TryRemove(sandboxId, out _);
            return null;
        }

        Remember(detail);
        return ToInfo(detail);
    }

    public async Task<IReadOnlyList<SandboxInfo>> ListAsync(string? ownerUid, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        var filter = new Dictionary<string, string>(StringComparer.Ordinal) { [SandboxLabels.ProviderManagedBy] = SandboxLabels.ManagedByOperator, [SandboxLabels.Installation] = _installation };
        if (ownerUid is not null)
        {
            filter[SandboxLabels.OwnerUid] = ownerUid;
        }

        var listed = await _api.ListAsync(filter, cancellationToken).ConfigureAwait(false);

        // The server filters already; checking again keeps a sandbox without our owner key out of the orphan sweep.
        return listed
            .Select(ToInfo)
            .Where(i => i.OwnerUid is not null && (ownerUid is null || string.Equals(i.OwnerUid, ownerUid, StringComparison.Ordinal)))
            .OrderBy(i => i.CreatedAt)
            .ThenBy(i => i.Id, StringComparer.Ordinal)
            .ToList();
    }

    public async Task UploadFilesAsync(string sandboxId, IReadOnlyList<SandboxFile> files, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(files);
        EnsureCredentials();

        // all-or-nothing validation before anything is sent
        var targets = new List<SandboxFile>(files.Count);
        foreach (var file in files)
        {
            targets.Add(new SandboxFile(SandboxPath(file.Path, "upload"), file.Content ?? []));
        }

        if (targets.Count == 0)
        {
            return;
        }

        var envd = await TargetAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        var requests = 0;
        long bytes = 0;
        foreach (var batch in FileBatches.Split(targets, _options.UploadBatchBytes, _options.UploadBatchFiles))
        {
            await _envd.UploadAsync(envd, batch, cancellationToken).ConfigureAwait(false);
            requests++;
            bytes += batch.Sum(f => (long)f.Content.Length);
        }

        _logger.Uploaded(sandboxId, targets.Count, bytes, requests);
    }

    public async Task DeleteFilesAsync(string sandboxId, IReadOnlyList<string> paths, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(paths);
        EnsureCredentials();
        var targets = paths.Select(p => SandboxPath(p, "delete")).Distinct(StringComparer.Ordinal).ToList();
        if (targets.Count == 0)
        {
            return;
        }

        // The filesystem RPC removes one path per call; a few in flight keep a large delta quick.
        var envd = await TargetAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        await Parallel.ForEachAsync(targets, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancellationToken },
            async (path, ct) => await _envd.RemoveAsync(envd, path, ct).ConfigureAwait(false)).ConfigureAwait(false);
        _logger.RemovedFiles(sandboxId, targets.Count);
    }

    public async Task StartAsync(string sandboxId, SandboxStartRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        EnsureCredentials();
        if (request.Port is < 1 or > 65535)
        {
            throw new SandboxProviderException(ProviderName, $"Port must be between 1 and 65535; got {request.Port}", isTransient: false);
        }

        var desired = DevServerConfig(request);
        var envd = await TargetAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        foreach (var process in await _envd.ListProcessesAsync(envd, cancellationToken).ConfigureAwait(false))
        {
            if (process.Tag != DevServerTag)
            {
                continue;
            }

            if (process.Config is { } running && SameConfig(running, desired))
            {
                _logger.AlreadyRunning(sandboxId, process.Pid);
                return;
            }

            await _envd.KillProcessAsync(envd, process.Pid, cancellationToken).ConfigureAwait(false);
            _logger.StoppedOldServer(sandboxId, process.Pid);
        }

        var started = _time.GetTimestamp();
        await using var stream = await _envd.StartProcessAsync(envd, new ProcessStartRequest(desired, DevServerTag, Stdin: false), cancellationToken)
            .ConfigureAwait(false);
        var output = new OutputTail(StderrTailBytes);
        var pid = await WaitForStartEventAsync(stream, output, cancellationToken).ConfigureAwait(false);
        await WaitForPortAsync(sandboxId, request.Port, stream, output, cancellationToken).ConfigureAwait(false);
        _logger.Started(sandboxId, pid, request.Port, (long)_time.GetElapsedTime(started).TotalMilliseconds);
    }

    public async Task<PreviewEndpoint> GetPreviewAsync(string sandboxId, int port, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        if (port is < 1 or > 65535)
        {
            throw new SandboxProviderException(ProviderName, $"Port must be between 1 and 65535; got {port}", isTransient: false);
        }

        var access = await AccessAsync(sandboxId, needTrafficToken: !_options.AllowPublicTraffic, cancellationToken).ConfigureAwait(false);
        var url = PreviewUrl(sandboxId, port, access);
        if (_options.AllowPublicTraffic)
        {
            return new PreviewEndpoint(url, Token: null);
        }

        return new PreviewEndpoint(url, access.TrafficToken
            ?? throw new SandboxProviderException(ProviderName, $"E2B returned no traffic access token for sandbox '{sandboxId}' although public traffic is off", isTransient: true));
    }

    public async Task<DateTimeOffset?> ExtendAsync(string sandboxId, DateTimeOffset until, CancellationToken cancellationToken)
    {
        try
        {
            return await KeepAliveAsync(sandboxId, until, cancellationToken).ConfigureAwait(false);
        }
        catch (SandboxProviderException ex) when (E2BErrors.IsNotFound(ex))
        {
            // 404 on the keep-alive: the sandbox is gone; the runtime reconciles its owner now, not at the next health check
            _deaths?.Report(new SandboxDeath(ProviderName, sandboxId, null, null, "the keep-alive answered 404"));
            throw;
        }
    }

    private async Task<DateTimeOffset?> KeepAliveAsync(string sandboxId, DateTimeOffset until, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        var detail = await _api.GetAsync(sandboxId, cancellationToken).ConfigureAwait(false) ?? throw E2BErrors.NotFound(sandboxId);
        if (detail.EndAt is { } end && end >= until)
        {
            return end; // already long enough; /timeout would shorten it
        }

        var seconds = Math.Ceiling((until - _time.GetUtcNow()).TotalSeconds);
        if (seconds <= 0)
        {
            return detail.EndAt;
        }

        // /refreshes never shortens but reaches an hour at most; beyond that /timeout, which is safe here because the
        // current end time was just read and lies before the new one.
        var useRefresh = seconds <= MaxRefreshSeconds;
        var found = useRefresh
            ? await _api.RefreshAsync(sandboxId, (int)seconds, cancellationToken).ConfigureAwait(false)
            : await _api.SetTimeoutAsync(sandboxId, (int)Math.Min(int.MaxValue, seconds), cancellationToken).ConfigureAwait(false);
        if (!found)
        {
            throw E2BErrors.NotFound(sandboxId);
        }

        var after = await _api.GetAsync(sandboxId, cancellationToken).ConfigureAwait(false) ?? throw E2BErrors.NotFound(sandboxId);
        _logger.Extended(sandboxId, after.EndAt, useRefresh ? "refresh" : "timeout");
        return after.EndAt;
    }

    public async Task DeleteAsync(string sandboxId, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        var killed = await _api.KillAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        _access.TryRemove(sandboxId, out _);
        if (killed)
        {
            _logger.Killed(sandboxId);
        }
        else
        {
            _logger.AlreadyGone(sandboxId);
        }
    }

    public SandboxCapabilities Capabilities => SandboxCapabilities.Pause | SandboxCapabilities.FileManifest;

    public async Task<bool> PauseAsync(string sandboxId, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        var paused = await _api.PauseAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        if (paused)
        {
            _logger.Paused(sandboxId);
        }
        else
        {
            _access.TryRemove(sandboxId, out _);
        }

        return paused;
    }

    /// <summary>
    /// <c>POST /connect</c> resumes a paused sandbox (201) or just extends a running one (200); either way it returns the
    /// tokens, which may be new after a resume, so they replace the remembered ones.
    /// </summary>
    public async Task<SandboxInfo?> ResumeAsync(string sandboxId, DateTimeOffset until, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        var seconds = (int)Math.Clamp(Math.Ceiling((until - _time.GetUtcNow()).TotalSeconds), 1, int.MaxValue);
        var connected = await _api.ConnectAsync(sandboxId, seconds, cancellationToken).ConfigureAwait(false);
        if (connected is null)
        {
            _access.TryRemove(sandboxId, out _);
            return null;
        }

        _access[sandboxId] = new SandboxAccess(connected.EnvdAccessToken, connected.TrafficAccessToken, connected.Domain);
        _logger.Resumed(sandboxId);
        return await GetAsync(sandboxId, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>E2B keeps a paused sandbox's snapshot itself; there is no colder tier to move it to.</summary>
    public Task<bool> ArchiveAsync(string sandboxId, CancellationToken cancellationToken) =>
        throw new SandboxProviderException(ProviderName, "E2B has no archive tier; a paused sandbox stays paused until it is resumed or killed", isTransient: false);

    /// <summary>One <c>sha256sum</c> over the project directory, run through envd like the dev server, its stdout collected.</summary>
    public async Task<IReadOnlyDictionary<string, string>?> GetFileManifestAsync(string sandboxId, CancellationToken cancellationToken)
    {
        EnsureCredentials();
        if (await _api.GetAsync(sandboxId, cancellationToken).ConfigureAwait(false) is null)
        {
            return null;
        }

        var envd = await TargetAsync(sandboxId, cancellationToken).ConfigureAwait(false);
        var config = new ProcessConfig("/bin/bash", ["-c", FileManifests.Command(_options.ProjectDirectory)], new Dictionary<string, string>(), _options.ProjectDirectory);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(1));
        await using var stream = await _envd.StartProcessAsync(envd, new ProcessStartRequest(config, Tag: null, Stdin: false), timeout.Token).ConfigureAwait(false);
        using var stdout = new MemoryStream();
        while (await stream.ReadAsync(timeout.Token).ConfigureAwait(false) is { } processEvent)
        {
            if (processEvent.Data?.Stdout is { Length: > 0 } chunk)
            {
                stdout.Write(chunk);
            }

            if (processEvent.End is { } end)
            {
                if (end.ExitCode != 0)
                {
                    throw new SandboxProviderException(ProviderName, $"Reading the file manifest of E2B sandbox {sandboxId} failed with exit code {end.ExitCode}", isTransient: true);
                }

                break;
            }
        }

        return FileManifests.Parse(System.Text.Encoding.UTF8.GetString(stdout.GetBuffer(), 0, (int)stdout.Length));
    }

    // ---- helpers ------------------------------------------------------------------------------------------------

    private void EnsureCredentials()
    {
        if (!_options.HasApiKey)
        {
            ReportCredentialsMissing();
            throw E2BErrors.CredentialsMissing();
        }
    }

    private void ReportCredentialsMissing() =>
        _health.Report(ProviderName, available: false, "CredentialsMissing", E2BErrors.CredentialsMissingMessage);

    private SandboxInfo ToInfo(E2BSandboxDetail detail)
    {
        var metadata = detail.Metadata ?? [];
        var state = detail.State switch
        {
            "running" when detail.EndAt is { } end && end <= _time.GetUtcNow() => SandboxState.Stopped, // about to be evicted
            "running" => SandboxState.Running,
            "paused" => SandboxState.Stopped,
            _ => SandboxState.Pending,
        };
        return new SandboxInfo(detail.SandboxId, metadata.GetValueOrDefault(SandboxLabels.OwnerUid), state, detail.StartedAt, detail.EndAt, metadata);
    }

    private void Remember(E2BSandboxDetail detail) =>
        _access.AddOrUpdate(detail.SandboxId,
            _ => new SandboxAccess(detail.EnvdAccessToken, null, detail.Domain),
            (_, known) => known with { EnvdToken = detail.EnvdAccessToken ?? known.EnvdToken, Domain = detail.Domain ?? known.Domain });

    /// <summary>Tokens and domain of a sandbox: remembered from create, else read with GET (and /connect for the traffic token).</summary>
    private async Task<SandboxAccess> AccessAsync(string sandboxId, bool needTrafficToken, CancellationToken cancellationToken)
    {
        if (_access.TryGetValue(sandboxId, out var known) && (!needTrafficToken || known.TrafficToken is not null))
        {
            return known;
        }

        var detail = await _api.GetAsync(sandboxId, cancellationToken).ConfigureAwait(false) ?? throw E2BErrors.NotFound(sandboxId);
        var access = new SandboxAccess(detail.EnvdAccessToken ?? known?.EnvdToken, known?.TrafficToken, detail.Domain ?? known?.Domain);
        if (needTrafficToken && access.TrafficToken is null)
        {
            // Only create and connect return the traffic token. Connect only ever extends the end time; asking for the
            // time that is left anyway changes nothing.
            var left = detail.EndAt is { } end ? Math.Ceiling((end - _time.GetUtcNow()).TotalSeconds) : 1;
            var connected = await _api.ConnectAsync(sandboxId, (int)Math.Clamp(left, 1, int.MaxValue), cancellationToken).ConfigureAwait(false)
                ?? throw E2BErrors.NotFound(sandboxId);
            access = new SandboxAccess(connected.EnvdAccessToken ?? access.EnvdToken, connected.TrafficAccessToken, connected.Domain ?? access.Domain);
        }

        _access[sandboxId] = access;
        return access;
    }

    private async Task<EnvdTarget> TargetAsync(string sandboxId, CancellationToken cancellationToken)
    {
        var access = await AccessAsync(sandboxId, needTrafficToken: false, cancellationToken).ConfigureAwait(false);
        var baseUrl = _options.EnvdUrl is { } fixedUrl
            ? WithTrailingSlash(fixedUrl)
            : new Uri($"https://{E2BEnvdClient.EnvdPort}-{sandboxId}.{DomainOf(access)}/");
        return new EnvdTarget(sandboxId, baseUrl, access.EnvdToken);
    }

    private Uri PreviewUrl(string sandboxId, int port, SandboxAccess access) =>
        new(E2BPreview.Expand(_options.PreviewUrlTemplate, sandboxId, port, DomainOf(access)));

    private string DomainOf(SandboxAccess access) => string.IsNullOrWhiteSpace(access.Domain) ? _options.Domain : access.Domain;

    private ProcessConfig DevServerConfig(SandboxStartRequest request)
    {
        var command = string.IsNullOrWhiteSpace(request.Command) ? _options.StaticServerCommand : request.Command;
        var envs = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in request.Environment)
        {
            envs[key] = value;
        }

        // spec.port is what the preview host exposes, so it wins over a PORT in spec.env.
        envs["PORT"] = request.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

        // A login shell, as E2B's SDK runs commands, so the template's PATH (node, python) applies.
        return new ProcessConfig("/bin/bash", ["-l", "-c", command], envs, _options.ProjectDirectory);
    }

    private static bool SameConfig(ProcessConfig running, ProcessConfig desired) =>
        running.Cmd == desired.Cmd
        && (running.Args ?? []).SequenceEqual(desired.Args, StringComparer.Ordinal)
        && string.Equals(running.Cwd ?? string.Empty, desired.Cwd ?? string.Empty, StringComparison.Ordinal)
        && (running.Envs ?? new Dictionary<string, string>()).Count == desired.Envs.Count
        && desired.Envs.All(kv => running.Envs!.TryGetValue(kv.Key, out var v) && v == kv.Value);

    private async Task<uint> WaitForStartEventAsync(ProcessEventStream stream, OutputTail output, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Http.AttemptTimeout);
        try
        {
            while (await stream.ReadAsync(timeout.Token).ConfigureAwait(false) is { } processEvent)
            {
                if (processEvent.Start is { } start)
                {
                    return start.Pid;
                }

                output.Add(processEvent.Data);
                if (processEvent.End is { } end)
                {
                    throw Exited(end, output);
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new SandboxProviderException(ProviderName, "E2B envd did not report the dev server's start in time", isTransient: true);
        }

        throw new SandboxProviderException(ProviderName, "E2B envd ended the process stream before the dev server started", isTransient: true);
    }

    /// <summary>
    /// Polls the preview host until the dev server's port answers (E2B's proxy says 502 while it is closed), while the
    /// process stream is watched so a server that exits fails the start at once with its exit code and output.
    /// </summary>
    private async Task WaitForPortAsync(string sandboxId, int port, ProcessEventStream stream, OutputTail output, CancellationToken cancellationToken)
    {
        if (_options.StartupTimeout <= TimeSpan.Zero)
        {
            return;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var ended = WatchForEndAsync(stream, output, stop.Token);
        try
        {
            var access = await AccessAsync(sandboxId, needTrafficToken: !_options.AllowPublicTraffic, cancellationToken).ConfigureAwait(false);
            var url = PreviewUrl(sandboxId, port, access);
            var http = _httpClients.CreateClient(PreviewHttpClientName);
            var begun = _time.GetTimestamp();
            while (true)
            {
                if (ended.IsCompleted && await ended.ConfigureAwait(false) is { } end)
                {
                    throw Exited(end, output);
                }

                if (await PortAnswersAsync(http, url, access, cancellationToken).ConfigureAwait(false))
                {
                    return;
                }

                if (_time.GetElapsedTime(begun) >= _options.StartupTimeout)
                {
                    throw new SandboxProviderException(ProviderName,
                        $"The dev server of E2B sandbox '{sandboxId}' did not open port {port} within {_options.StartupTimeout.TotalSeconds:0}s{output.Describe()}",
                        isTransient: true);
                }

                await Task.WhenAny(Task.Delay(_options.StartupPollInterval, _time, cancellationToken), ended).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await ended.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SandboxProviderException)
            {
                // the watcher only informs the wait above
            }
        }
    }

    private static async Task<ProcessEndEvent?> WatchForEndAsync(ProcessEventStream stream, OutputTail output, CancellationToken cancellationToken)
    {
        try
        {
            while (await stream.ReadAsync(cancellationToken).ConfigureAwait(false) is { } processEvent)
            {
                output.Add(processEvent.Data);
                if (processEvent.End is { } end)
                {
                    return end;
                }
            }
        }
        catch (SandboxProviderException)
        {
            // a broken stream says nothing about the process, which keeps running without us
        }

        return null;
    }

    private static async Task<bool> PortAnswersAsync(HttpClient http, Uri url, SandboxAccess access, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (access.TrafficToken is { Length: > 0 } token)
        {
            request.Headers.TryAddWithoutValidation(E2BPreview.TrafficTokenHeader, token);
        }

        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            return response.StatusCode is not (HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout);
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false; // the client's own timeout
        }
    }

    private static SandboxProviderException Exited(ProcessEndEvent end, OutputTail output) =>
        new(ProviderName, $"The dev server exited with code {end.ExitCode}{(end.Error is { Length: > 0 } e ? $" ({E2BErrors.Printable(e)})" : string.Empty)}{output.Describe()}",
            isTransient: false);

    private string SandboxPath(string path, string verb)
    {
        if (!ProjectPath.TryNormalize(path, out var normalized, out var error))
        {
            throw new SandboxProviderException(ProviderName, $"Refused to {verb} '{E2BErrors.Printable(path)}': {error}", isTransient: false);
        }

        return _options.ProjectDirectory.TrimEnd('/') + "/" + normalized;
    }

    private static Uri WithTrailingSlash(Uri uri) => uri.AbsoluteUri.EndsWith('/') ? uri : new Uri(uri.AbsoluteUri + "/");

    private sealed record SandboxAccess(string? EnvdToken, string? TrafficToken, string? Domain);

    /// <summary>The last bytes of the process's output, for the error message of a server that exits.</summary>
    private sealed class OutputTail(int capacity)
    {
        private readonly Lock _gate = new();
        private byte[] _bytes = [];

        public void Add(ProcessDataEvent? data)
        {
            var chunk = data?.Stderr ?? data?.Stdout ?? data?.Pty;
            if (chunk is null || chunk.Length == 0)
            {
                return;
            }

            lock (_gate)
            {
                var combined = _bytes.Concat(chunk).ToArray();
                _bytes = combined.Length > capacity ? combined[^capacity..] : combined;
            }
        }

        public string Describe()
        {
            lock (_gate)
            {
                if (_bytes.Length == 0)
                {
                    return string.Empty;
                }

                var text = E2BErrors.Printable(Encoding.UTF8.GetString(_bytes));
                return text.Length == 0 ? string.Empty : $"; output: {text}";
            }
        }
    }
}
