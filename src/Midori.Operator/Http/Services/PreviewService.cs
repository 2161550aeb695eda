using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using k8s.Models;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Http.Contracts;
using Midori.Operator.Kubernetes;
using Midori.Operator.Persistence;
using Midori.Operator.Providers;
using Midori.Operator.Runtime;

namespace Midori.Operator.Http.Services;

/// <summary>Validated create request (after merging the project's previewSettings).</summary>
public sealed record CreatePreviewCommand(
    string ProjectId,
    string? Name,
    IReadOnlyList<IncomingFile> Files,
    string? Provider,
    int? TtlSeconds,
    int? IdleTimeoutSeconds,
    string? Template,
    string? Command,
    int? Port,
    IReadOnlyDictionary<string, string>? Env,
    string? FromGenerationId);

public sealed record CreatePreviewResult(
    PreviewKey Preview,
    V1Alpha1PreviewSandbox Resource,
    bool Reused,
    string? SnapshotId,
    long Revision,
    string FilesHash,
    PushOutcome Push);

/// <summary>Ready (or not, after the wait) with what the editor needs to show the iframe.</summary>
/// <param name="Token">With the gateway: the signed link's token; without: the provider's token from the Secret.</param>
/// <param name="Url">With the gateway: the signed link to the stable URL; without: status.previewUrl.</param>
/// <summary>What a stop did: <see cref="Suspended"/> is the suspended resource, or null when purge deleted it.</summary>
public sealed record StopResult(V1Alpha1PreviewSandbox? Suspended);

public sealed record PreviewReadiness(V1Alpha1PreviewSandbox? Resource, bool Ready, string? Token, string? Url = null);

/// <summary>
/// Preview lifecycle for the API: create from files (snapshot → working copy → PreviewSandbox with
/// spec.source.snapshotId), reuse of the project's existing preview (one preview per project: the new
/// files pushed to it, woken or resumed when needed), status from the watch cache, stop, and project settings.
/// </summary>
public sealed partial class PreviewService
{
    private readonly PreviewSandboxCache _cache;
    private readonly IPreviewSandboxClient _client;
    private readonly WorkingCopyService _workingCopies;
    private readonly ISandboxProviderRegistry _providers;
    private readonly HttpApiOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<PreviewService> _logger;
    private readonly IPreviewStore? _store;
    private readonly NamespacePolicyGate? _policy;
    private readonly IPreviewLinks? _links;

    public PreviewService(
        PreviewSandboxCache cache,
        IPreviewSandboxClient client,
        WorkingCopyService workingCopies,
        ISandboxProviderRegistry providers,
        IOptions<HttpApiOptions> options,
        TimeProvider time,
        ILogger<PreviewService> logger,
        IPreviewStore? store = null,
        IPreviewLinks? links = null,
        NamespacePolicyGate? policy = null)
    {
        _links = links;
        _policy = policy;
        _cache = cache;
        _client = client;
        _workingCopies = workingCopies;
        _providers = providers;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _store = store;
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex DnsLabel();

    /// <summary>Default resource name of a project's preview: readable slug + hash, a valid DNS label, stable per project.</summary>
    public static string DefaultName(string projectId)
    {
        var slug = new StringBuilder();
        foreach (var c in projectId.ToLowerInvariant())
        {
            slug.Append(char.IsAsciiLetterOrDigit(c) ? c : '-');
        }

        var trimmed = Regex.Replace(slug.ToString(), "-+", "-").Trim('-');
        if (trimmed.Length > 40)
        {
            trimmed = trimmed[..40].TrimEnd('-');
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(projectId)))[..8];
        return trimmed.Length == 0 ? $"preview-{hash}" : $"preview-{trimmed}-{hash}";
    }

    /// <summary>400 unless <paramref name="name"/> is a DNS label; null when it is.</summary>
    public static ServiceError? ValidateName(string name, string what) =>
        name.Length > 63 || !DnsLabel().IsMatch(name)
            ? ServiceError.Invalid($"{what} '{name}' must be a DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit")
            : null;

    /// <summary>400 unless <paramref name="projectId"/> is given, at most 253 characters, without control characters; null when it is.</summary>
    public static ServiceError? ValidateProjectId(string? projectId)
    {
        if (string.IsNullOrWhiteSpace(projectId))
        {
            return ServiceError.Invalid("projectId is required");
        }

        return projectId.Length > 253 || projectId.Any(char.IsControl)
            ? ServiceError.Invalid("projectId must be at most 253 characters without control characters")
            : null;
    }

    /// <summary>Validates a request against limits and the CRD's rules and fills unset members from previewSettings.</summary>
    public async Task<ServiceResult<CreatePreviewCommand>> PrepareAsync(string @namespace, CreatePreviewRequest request, CancellationToken cancellationToken)
    {
        if ((ValidateProjectId(request.ProjectId) ?? (request.Name is { } name ? ValidateName(name, "name") : null)) is { } invalid)
        {
            return invalid;
        }

        var projectId = request.ProjectId!;
        if (!FileInputs.Decode(request.Files, _options).TryGetValue(out var files, out var refused))
        {
            return refused;
        }

        if (files.Count == 0)
        {
            return ServiceError.Invalid("files must list at least one file");
        }

        if (_store is not { } store)
        {
            return ServiceError.StoreNotConfigured;
        }

        var project = await store.GetProjectAsync(@namespace, projectId, cancellationToken).ConfigureAwait(false);
        if (project is { PreviewEnabled: false })
        {
            return ServiceError.Forbidden($"previews are disabled for project '{projectId}' (previewEnabled=false)");
        }

        var defaults = project?.PreviewSettings;
        IReadOnlyDictionary<string, string>? env = defaults?.Env;
        if (request.Env is { } list)
        {
            var given = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i < list.Count; i++)
            {
                if (list[i]?.Name is not { Length: > 0 } envName)
                {
                    return ServiceError.Invalid($"env[{i}].name is required");
                }

                given[envName] = list[i].Value ?? string.Empty; // the last of a repeated name wins
            }

            env = given;
        }

        var command = new CreatePreviewCommand(
            projectId,
            request.Name,
            files,
            request.Provider ?? defaults?.Provider,
            request.TtlSeconds ?? defaults?.TtlSeconds,
            request.IdleTimeoutSeconds ?? defaults?.IdleTimeoutSeconds,
            request.Template ?? defaults?.Template,
            request.Command ?? defaults?.Command,
            request.Port ?? defaults?.Port,
            env,
            request.FromGenerationId);
        return ValidateSettings(command.Provider, command.TtlSeconds, command.IdleTimeoutSeconds, command.Port, command.Template, command.Command, command.Env)
            ?? await EnforcePolicyAsync(@namespace, command.Provider, command.Template, command.Command, command.Env, command.TtlSeconds, command.IdleTimeoutSeconds,
                cancellationToken).ConfigureAwait(false)
            ?? (ServiceResult<CreatePreviewCommand>)command;
    }

    /// <summary>The CRD's rules, checked here so the caller gets a 400 naming the field instead of an API-server error.</summary>
    public ServiceError? ValidateSettings(string? provider, int? ttl, int? idle, int? port, string? template, string? command, IReadOnlyDictionary<string, string>? env)
    {
        if (provider is not null && (!ProviderNames.All.Contains(provider) || !_providers.TryGet(provider, out _)))
        {
            return ServiceError.Invalid($"provider '{provider}' is not configured; use one of {string.Join(", ", _providers.All.Select(p => p.Name))}");
        }

        if (ttl is < 60 or > 86400)
        {
            return ServiceError.Invalid("ttlSeconds must be between 60 and 86400");
        }

        if (idle is < 10 or > 86400)
        {
            return ServiceError.Invalid("idleTimeoutSeconds must be between 10 and 86400");
        }

        if ((idle ?? PreviewSandboxSpec.DefaultIdleTimeoutSeconds) > (ttl ?? PreviewSandboxSpec.DefaultTtlSeconds))
        {
            return ServiceError.Invalid("idleTimeoutSeconds must not exceed ttlSeconds");
        }

        if (port is < 1 or > 65535)
        {
            return ServiceError.Invalid("port must be between 1 and 65535");
        }

        if (template is { Length: > 253 })
        {
            return ServiceError.Invalid("template must be at most 253 characters");
        }

        if (command is { Length: > 4096 })
        {
            return ServiceError.Invalid("command must be at most 4096 characters");
        }

        foreach (var (name, value) in env ?? new Dictionary<string, string>())
        {
            if (name.Length > 256 || value.Length > 32768)
            {
                return ServiceError.Invalid($"env '{name[..Math.Min(name.Length, 64)]}' is too long (name ≤ 256, value ≤ 32768 characters)");
            }
        }
    
        return null;
    }

    /// <summary>
    /// Creates the project's preview, or reuses the one it has (pushing the files to it and waking or resuming it).
    /// <paramref name="storedSnapshot"/>: the command's files were already stored as this snapshot (auto-build), so none is made.
    /// </summary>
    public async Task<ServiceResult<CreatePreviewResult>> CreateOrReuseAsync(string @namespace, CreatePreviewCommand command, string? actor,
        CancellationToken cancellationToken, SnapshotRecord? storedSnapshot = null)
    {
        if (_store is not { } store)
        {
            return ServiceError.StoreNotConfigured;
        }

        var (existing, refused) = await FindReusableAsync(@namespace, command, cancellationToken).ConfigureAwait(false);
        if (refused is not null)
        {
            return refused;
        }

        if (existing is not null)
        {
            return await ReuseAsync(store, existing, command, actor, cancellationToken).ConfigureAwait(false);
        }

        var name = command.Name ?? DefaultName(command.ProjectId);
        var key = new PreviewKey(@namespace, name);
        var snapshot = storedSnapshot ?? await store.CreateSnapshotAsync(@namespace, command.ProjectId, [.. command.Files.Select(f => f.ToSandboxFile())],
            command.FromGenerationId, cancellationToken).ConfigureAwait(false);

        // reset: a working copy left behind by an earlier preview of the same name starts over from this snapshot.
        var workingCopy = await store.InitializeWorkingCopyAsync(key, command.ProjectId, snapshot.SnapshotId, reset: true, cancellationToken).ConfigureAwait(false);
        V1Alpha1PreviewSandbox created;
        try
        {
            created = await _client.CreateAsync(BuildResource(key, command, snapshot.SnapshotId), cancellationToken).ConfigureAwait(false);
        }
        catch (KubernetesConflictException)
        {
            // Another request created it first (two tabs pressing Run): reuse that one.
            var winner = await _client.GetAsync(@namespace, name, cancellationToken).ConfigureAwait(false);
            if (winner is null)
            {
                return ServiceError.Conflict($"preview {key} is being created and deleted concurrently; retry");
            }

            if (winner.Spec.ProjectId != command.ProjectId)
            {
                return ServiceError.Conflict($"preview {key} belongs to project '{winner.Spec.ProjectId}'");
            }

            if (winner.Metadata.DeletionTimestamp is not null || winner.Spec.Source.SnapshotId is null)
            {
                return ServiceError.Conflict($"preview {key} is being deleted or is not managed through the API; retry later or pass another name");
            }

            _cache.Observe(winner);
            return await ReuseAsync(store, winner, command, actor, cancellationToken).ConfigureAwait(false);
        }

        _cache.Observe(created);
        await store.RecordSessionAsync(new SessionUpdate(key, created.Metadata.Uid, command.ProjectId, SessionStates.Queued, snapshot.SnapshotId), cancellationToken)
            .ConfigureAwait(false);
        _logger.PreviewCreated(@namespace, name, command.ProjectId, snapshot.SnapshotId);
        return new CreatePreviewResult(key, created, Reused: false, snapshot.SnapshotId, workingCopy.Revision, workingCopy.FilesHash, new PushOutcome(false, null, null));
    }

    /// <summary>
    /// Waits (bounded) until the preview is Ready or Failed. With the gateway the answer carries a fresh signed link;
    /// without it, the provider's token from the Secret status.tokenSecretRef names.
    /// </summary>
    public async Task<PreviewReadiness> WaitUntilReadyAsync(PreviewKey key, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var (resource, _) = await _cache.WaitForAsync(key, r => r is null || PreviewStatusMapper.IsReady(r) || r.Status?.Phase == Phases.Failed,
            timeout, cancellationToken).ConfigureAwait(false);
        if (!PreviewStatusMapper.IsReady(resource))
        {
            return new PreviewReadiness(resource, false, null);
        }

        if (await LinkAsync(resource!, cancellationToken).ConfigureAwait(false) is { } link)
        {
            return new PreviewReadiness(resource, true, link.Token, link.Url);
        }

        string? token = null;
        if (resource!.Status!.TokenSecretRef is { } reference)
        {
            token = await _client.ReadSecretValueAsync(key.Namespace, reference.Name, reference.Key, cancellationToken).ConfigureAwait(false);
        }

        return new PreviewReadiness(resource, true, string.IsNullOrEmpty(token) ? null : token, resource.Status.PreviewUrl);
    }

    /// <summary>A fresh signed link to the preview's stable URL; null without the gateway.</summary>
    public async ValueTask<PreviewLink?> LinkAsync(V1Alpha1PreviewSandbox? resource, CancellationToken cancellationToken) =>
        _links is null || resource is null ? null : await _links.CreateAsync(resource, cancellationToken).ConfigureAwait(false);

    /// <summary>The status document (<see cref="PreviewStatusResponse"/>) from the watch cache; null when the preview does not exist. Never calls a provider.</summary>
    public async ValueTask<PreviewStatusResponse?> GetStatusAsync(PreviewKey key, CancellationToken cancellationToken)
    {
        var resource = await _cache.GetAsync(key, cancellationToken).ConfigureAwait(false);
        return resource is null ? null : PreviewStatusMapper.Map(resource, _time.GetUtcNow());
    }

    /// <summary>
    /// Stop: <c>spec.suspend=true</c> (resource, working copy and history kept; a later create or resume wakes it).
    /// With <paramref name="purge"/>, a preview created through the API is deleted instead, together with its
    /// working copy; hand-made resources are never deleted through the API (their owner is kubectl/GitOps).
    /// </summary>
    public async Task<ServiceResult<StopResult>> StopAsync(PreviewKey key, bool purge, CancellationToken cancellationToken)
    {
        if (!(await _workingCopies.RequireResourceAsync(key, cancellationToken).ConfigureAwait(false)).TryGetValue(out var resource, out var missing))
        {
            return missing;
        }

        if (purge)
        {
            if (!PreviewStatusMapper.IsCreatedByApi(resource))
            {
                return ServiceError.Conflict($"preview {key} was not created through the API; delete it where it is managed (kubectl, GitOps) or stop it without purge");
            }

            await _client.DeleteAsync(key.Namespace, key.Name, cancellationToken).ConfigureAwait(false);
            if (_store is not null)
            {
                await _store.DeleteWorkingCopyAsync(key, cancellationToken).ConfigureAwait(false);
            }

            _logger.PreviewStopped(key.Namespace, key.Name, "deleted");
            return new StopResult(null);
        }

        var updated = resource.Spec.IsSuspended()
            ? resource
            : await _client.PatchSpecAsync(key.Namespace, key.Name, new JsonObject { ["suspend"] = true }, cancellationToken).ConfigureAwait(false);
        if (updated is null)
        {
            return ServiceError.NotFound($"preview {key} does not exist");
        }

        _cache.Observe(updated);
        _logger.PreviewStopped(key.Namespace, key.Name, "suspended");
        return new StopResult(updated);
    }

    /// <summary>The project's switches and settings; 404 when it has none stored.</summary>
    public async Task<ServiceResult<ProjectRecord>> GetProjectAsync(string @namespace, string projectId, CancellationToken cancellationToken)
    {
        if (ValidateProjectId(projectId) is { } invalid)
        {
            return invalid;
        }

        if (_store is not { } store)
        {
            return ServiceError.StoreNotConfigured;
        }

        var project = await store.GetProjectAsync(@namespace, projectId, cancellationToken).ConfigureAwait(false);
        return project is null ? ServiceError.NotFound($"project '{projectId}' has no settings in {@namespace}") : project;
    }

    /// <summary>Creates or updates a project's switches and settings; unset switches keep their value (new projects: enabled, no auto-build).</summary>
    public async Task<ServiceResult<ProjectRecord>> UpsertProjectAsync(string @namespace, string projectId, ProjectRequest request, CancellationToken cancellationToken)
    {
        if (ValidateProjectId(projectId) is { } invalid)
        {
            return invalid;
        }

        var settings = request.PreviewSettings;
        PreviewSettings? stored = null;
        if (settings is not null)
        {
            if ((ValidateSettings(settings.Provider, settings.TtlSeconds, settings.IdleTimeoutSeconds, settings.Port, settings.Template, settings.Command, settings.Env)
                ?? await EnforcePolicyAsync(@namespace, settings.Provider, settings.Template, settings.Command, settings.Env, settings.TtlSeconds,
                    settings.IdleTimeoutSeconds, cancellationToken).ConfigureAwait(false)) is { } refused)
            {
                return refused;
            }

            stored = new PreviewSettings
            {
                TtlSeconds = settings.TtlSeconds,
                IdleTimeoutSeconds = settings.IdleTimeoutSeconds,
                Command = settings.Command,
                Port = settings.Port,
                Template = settings.Template,
                Provider = settings.Provider,
                Env = settings.Env,
            };
        }

        if (_store is not { } store)
        {
            return ServiceError.StoreNotConfigured;
        }

        var current = await store.GetProjectAsync(@namespace, projectId, cancellationToken).ConfigureAwait(false);
        return await store.UpsertProjectAsync(@namespace, projectId,
            request.PreviewEnabled ?? current?.PreviewEnabled ?? true,
            request.PreviewAutoBuild ?? current?.PreviewAutoBuild ?? false,
            settings is null ? current?.PreviewSettings : stored,
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The project's preview to reuse: the named one when a name is given (another project's → 409), else the
    /// best of the project's snapshot-backed previews (Running first, then the default-named one, then any).
    /// </summary>
    private async Task<(V1Alpha1PreviewSandbox? Reusable, ServiceError? Refused)> FindReusableAsync(string @namespace, CreatePreviewCommand command,
        CancellationToken cancellationToken)
    {
        if (command.Name is { } name)
        {
            var named = await _cache.GetAsync(new PreviewKey(@namespace, name), cancellationToken).ConfigureAwait(false);
            if (named is null)
            {
                return (null, null);
            }

            if (named.Spec.ProjectId != command.ProjectId)
            {
                return (null, ServiceError.Conflict($"preview {@namespace}/{name} belongs to project '{named.Spec.ProjectId}'"));
            }

            if (named.Metadata.DeletionTimestamp is not null)
            {
                return (null, ServiceError.Conflict($"preview {@namespace}/{name} is being deleted; retry when it is gone"));
            }

            return named.Spec.Source.SnapshotId is null
                ? (null, ServiceError.Conflict($"preview {@namespace}/{name} takes its files from its manifest (inline or configMapRef), not from the API"))
                : (named, null);
        }

        var candidates = (await _cache.FindByProjectAsync(@namespace, command.ProjectId, cancellationToken).ConfigureAwait(false))
            .Where(r => r.Metadata.DeletionTimestamp is null && r.Spec.Source.SnapshotId is not null)
            .ToList();
        var defaultName = DefaultName(command.ProjectId);
        var best = candidates.FirstOrDefault(r => r.Status?.Phase == Phases.Running)
            ?? candidates.FirstOrDefault(r => r.Metadata.Name == defaultName)
            ?? candidates.FirstOrDefault();
        return (best, null);
    }

    private async Task<ServiceResult<CreatePreviewResult>> ReuseAsync(IPreviewStore store, V1Alpha1PreviewSandbox resource, CreatePreviewCommand command, string? actor,
        CancellationToken cancellationToken)
    {
        var key = new PreviewKey(resource.Metadata.NamespaceProperty, resource.Metadata.Name);
        if (!(await _workingCopies.RequireWorkingCopyAsync(key, resource, cancellationToken).ConfigureAwait(false)).TryGetValue(out var workingCopy, out var noCopy))
        {
            return noCopy;
        }

        if (!_workingCopies.PlanWrites(workingCopy, command.Files, deleted: null, replaceAll: true).TryGetValue(out var writes, out var refused))
        {
            return refused;
        }

        var committed = writes.Count == 0
            ? new FilesChangeResult(new WorkingCopyCommit(workingCopy.Revision, workingCopy.FilesHash, [], [], [], []), new Dictionary<string, string>(),
                PushOutcome.NothingToPush)
            : await _workingCopies.CommitAndPushAsync(key, resource, writes,
                new ChangeDescription("batch", new JsonObject { ["source"] = "create", ["files"] = command.Files.Count }, actor), cancellationToken).ConfigureAwait(false);
        if (!committed.TryGetValue(out var commit, out var conflict))
        {
            return conflict;
        }

        // Pressing Run is activity: durable like a heartbeat, so an idle check never races the reuse.
        await store.RecordActivityAsync([(key, _time.GetUtcNow())], cancellationToken).ConfigureAwait(false);
        resource = await WakeAsync(key, resource, cancellationToken).ConfigureAwait(false);
        _logger.PreviewReused(key.Namespace, key.Name, command.ProjectId, commit.Commit.Revision);
        return new CreatePreviewResult(key, resource, Reused: true, resource.Spec.Source.SnapshotId, commit.Commit.Revision, commit.Commit.FilesHash, commit.Push);
    }

    /// <summary>A stopped preview is resumed, an expired one woken by a heartbeat annotation, a failed one recreated.</summary>
    private async Task<V1Alpha1PreviewSandbox> WakeAsync(PreviewKey key, V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        V1Alpha1PreviewSandbox? updated = null;
        var now = Heartbeat.Format(_time.GetUtcNow());
        if (resource.Spec.IsSuspended())
        {
            updated = await _client.PatchSpecAsync(key.Namespace, key.Name, new JsonObject { ["suspend"] = false }, cancellationToken).ConfigureAwait(false);
        }

        if (resource.Status?.Phase is Phases.Expired or Phases.Stopped or Phases.Paused)
        {
            updated = await _client.PatchAnnotationsAsync(key.Namespace, key.Name,
                new Dictionary<string, string?> { [GroupVersion.HeartbeatAnnotation] = now }, cancellationToken).ConfigureAwait(false);
        }
        else if (resource.Status?.Phase == Phases.Failed)
        {
            updated = await _client.PatchAnnotationsAsync(key.Namespace, key.Name,
                new Dictionary<string, string?> { [GroupVersion.RecreateAnnotation] = now, [GroupVersion.HeartbeatAnnotation] = now }, cancellationToken).ConfigureAwait(false);
        }

        if (updated is null)
        {
            return resource;
        }

        _cache.Observe(updated);
        return updated;
    }

    private V1Alpha1PreviewSandbox BuildResource(PreviewKey key, CreatePreviewCommand command, string snapshotId) => new()
    {
        Metadata = new V1ObjectMeta
        {
            Name = key.Name,
            NamespaceProperty = key.Namespace,
            Labels = new Dictionary<string, string>
            {
                [SandboxLabels.KubernetesManagedBy] = SandboxLabels.ManagedByOperator,
                [SandboxLabels.CreatedBy] = SandboxLabels.CreatedByApi,
            },

            // Created with the reconciler's finalizer, which saves the reconciler a metadata write per preview.
            Finalizers = [GroupVersion.FinalizerName],
        },
        Spec = new PreviewSandboxSpec
        {
            ProjectId = command.ProjectId,
            Provider = command.Provider,
            Source = new PreviewSandboxSource { SnapshotId = snapshotId },
            TtlSeconds = command.TtlSeconds,
            IdleTimeoutSeconds = command.IdleTimeoutSeconds,
            Template = command.Template,
            Command = command.Command,
            Port = command.Port,
            Env = command.Env?.Select(e => new PreviewSandboxEnvVar { Name = e.Key, Value = e.Value }).ToList(),
        },
    };
}
