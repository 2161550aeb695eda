using System.Text.Json.Serialization;

namespace Midori.Operator.Api.V1Alpha1;

/// <summary>Desired state of one preview. Durations are integer seconds (Kubernetes API conventions).</summary>
public sealed class PreviewSandboxSpec
{
    public const int DefaultTtlSeconds = 1800;
    public const int DefaultIdleTimeoutSeconds = 300;
    public const int DefaultPort = 3000;

    /// <summary>Project whose files run in the sandbox. Immutable.</summary>
    [JsonPropertyName("projectId")]
    public string ProjectId { get; set; } = string.Empty;

    /// <summary><c>local</c>, <c>daytona</c> or <c>e2b</c>; omitted: the operator's configured default. Immutable.</summary>
    [JsonPropertyName("provider")]
    public string? Provider { get; set; }

    /// <summary>Exactly one of snapshotId, inline or configMapRef.</summary>
    [JsonPropertyName("source")]
    public PreviewSandboxSource Source { get; set; } = new();

    /// <summary>Hard cap on one sandbox's lifetime.</summary>
    [JsonPropertyName("ttlSeconds")]
    public int? TtlSeconds { get; set; }

    /// <summary>No activity for this long and the sandbox is removed.</summary>
    [JsonPropertyName("idleTimeoutSeconds")]
    public int? IdleTimeoutSeconds { get; set; }

    /// <summary>Provider template (Daytona snapshot, E2B template id); empty: the provider's default.</summary>
    [JsonPropertyName("template")]
    public string? Template { get; set; }

    /// <summary>Port the dev server listens on inside the sandbox.</summary>
    [JsonPropertyName("port")]
    public int? Port { get; set; }

    /// <summary>Dev-server command run through a shell with PORT set; empty: serve the files statically.</summary>
    [JsonPropertyName("command")]
    public string? Command { get; set; }

    [JsonPropertyName("env")]
    public IList<PreviewSandboxEnvVar>? Env { get; set; }

    [JsonPropertyName("recreate")]
    public PreviewSandboxRecreatePolicy? Recreate { get; set; }

    /// <summary>True stops the sandbox and keeps the resource (the editor's Stop button).</summary>
    [JsonPropertyName("suspend")]
    public bool? Suspend { get; set; }

    /// <summary>What happens at the idle and TTL cuts (delete or pause), retention of a paused sandbox, boot grace, heads-up.</summary>
    [JsonPropertyName("lifecycle")]
    public PreviewSandboxLifecycle? Lifecycle { get; set; }

    // Effective values (methods, so no serializer mistakes them for fields): the CRD defaults these, but objects
    // built in code or stored before a default existed may omit them.
    public int EffectiveTtlSeconds() => TtlSeconds ?? DefaultTtlSeconds;
    public int EffectiveIdleTimeoutSeconds() => IdleTimeoutSeconds ?? DefaultIdleTimeoutSeconds;

    /// <summary>How far activity moves before it is written again (the annotation, status.lastActivityTime): a quarter of the idle timeout.</summary>
    public TimeSpan ActivityWriteInterval() => TimeSpan.FromSeconds(EffectiveIdleTimeoutSeconds() / 4.0);
    public int EffectivePort() => Port ?? DefaultPort;
    public bool IsSuspended() => Suspend == true;
    public PreviewSandboxRecreatePolicy EffectiveRecreate() => Recreate ?? new PreviewSandboxRecreatePolicy();
    public PreviewSandboxLifecycle EffectiveLifecycle() => Lifecycle ?? new PreviewSandboxLifecycle();
}

public sealed class PreviewSandboxSource
{
    /// <summary>A snapshot stored in the operator's database.</summary>
    [JsonPropertyName("snapshotId")]
    public string? SnapshotId { get; set; }

    /// <summary>Files written in the manifest; for small projects and samples.</summary>
    [JsonPropertyName("inline")]
    public IList<InlineFile>? Inline { get; set; }

    /// <summary>Files taken from a ConfigMap in the same namespace, like a ConfigMap volume.</summary>
    [JsonPropertyName("configMapRef")]
    public ConfigMapFilesReference? ConfigMapRef { get; set; }
}

public sealed class InlineFile
{
    [JsonPropertyName("path")]
    public string Path { get; set; } = string.Empty;

    [JsonPropertyName("content")]
    public string Content { get; set; } = string.Empty;
}

public sealed class ConfigMapFilesReference
{
    [JsonPropertyName("name")]
    public string Name { get; set; } = string.Empty;

    /// <summary>Keys to project and their paths; omitted: every key becomes a file named after it.</summary>
    [JsonPropertyName("items")]
    public IList<KeyToPath>? Items { get; set; }
}

public sealed class KeyToPath
{
    [JsonPropertyName("key")]
    public string Key { get; set; } = string.Empty;

    [JsonPropertyName("path")]
    public string Path { get; set; } = string.Empty;
}

public sealed class PreviewSandboxEnvVar
{
    [JsonPropertyName("name")]
    public string Name { get; set; } = string.Empty;

    [JsonPropertyName("value")]
    public string? Value { get; set; }
}

public sealed class PreviewSandboxRecreatePolicy
{
    public const int DefaultMaxAttempts = 5;
    public const int DefaultCooldownSeconds = 30;

    /// <summary>Recreate a sandbox that died or expired while still wanted.</summary>
    [JsonPropertyName("enabled")]
    public bool? Enabled { get; set; }

    /// <summary>Consecutive failed recreations before the preview is marked Failed.</summary>
    [JsonPropertyName("maxAttempts")]
    public int? MaxAttempts { get; set; }

    /// <summary>Base delay between failed attempts (doubled each time, capped) and minimum spacing of recreations.</summary>
    [JsonPropertyName("cooldownSeconds")]
    public int? CooldownSeconds { get; set; }

    public bool IsEnabled() => Enabled ?? true;
    public int EffectiveMaxAttempts() => MaxAttempts ?? DefaultMaxAttempts;
    public int EffectiveCooldownSeconds() => CooldownSeconds ?? DefaultCooldownSeconds;
}

/// <summary>Values of <c>spec.lifecycle.onIdle</c> and <c>spec.lifecycle.onExpire</c>.</summary>
public static class LifecycleActions
{
    /// <summary>Remove the sandbox (today's behaviour); a wake creates a new one and uploads every file.</summary>
    public const string Delete = "Delete";

    /// <summary>Pause (E2B) or stop (Daytona, local) the sandbox and keep it; a wake resumes it and pushes only what changed.</summary>
    public const string Pause = "Pause";
}

/// <summary>Retention tiers of one preview: run, then pause (kept <see cref="PausedRetentionSeconds"/>), then delete.</summary>
public sealed class PreviewSandboxLifecycle
{
    public const int DefaultPausedRetentionSeconds = 86400;
    public const int DefaultMinRunningSeconds = 0;
    public const int DefaultExpiryWarningSeconds = 60;

    /// <summary><see cref="LifecycleActions.Delete"/> or <see cref="LifecycleActions.Pause"/> when the idle timeout elapses.</summary>
    [JsonPropertyName("onIdle")]
    public string? OnIdle { get; set; }

    /// <summary><see cref="LifecycleActions.Delete"/> or <see cref="LifecycleActions.Pause"/> when the TTL elapses.</summary>
    [JsonPropertyName("onExpire")]
    public string? OnExpire { get; set; }

    /// <summary>How long a paused sandbox is kept before it is deleted (Daytona archives it after this).</summary>
    [JsonPropertyName("pausedRetentionSeconds")]
    public int? PausedRetentionSeconds { get; set; }

    /// <summary>No idle cut before the sandbox has run this long (a slow boot sends no heartbeats).</summary>
    [JsonPropertyName("minRunningSeconds")]
    public int? MinRunningSeconds { get; set; }

    /// <summary>Heads-up (Event and SSE event) this long before an idle or TTL cut; 0 disables it.</summary>
    [JsonPropertyName("expiryWarningSeconds")]
    public int? ExpiryWarningSeconds { get; set; }

    public string EffectiveOnIdle() => Normalize(OnIdle);
    public string EffectiveOnExpire() => Normalize(OnExpire);
    public int EffectivePausedRetentionSeconds() => PausedRetentionSeconds ?? DefaultPausedRetentionSeconds;
    public int EffectiveMinRunningSeconds() => MinRunningSeconds ?? DefaultMinRunningSeconds;
    public int EffectiveExpiryWarningSeconds() => ExpiryWarningSeconds ?? DefaultExpiryWarningSeconds;

    // The CRD's enum admits only the two values; objects built in code may carry anything, and anything else deletes.
    private static string Normalize(string? value) =>
        string.Equals(value, LifecycleActions.Pause, StringComparison.Ordinal) ? LifecycleActions.Pause : LifecycleActions.Delete;
}
