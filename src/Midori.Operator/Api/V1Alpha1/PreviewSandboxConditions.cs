namespace Midori.Operator.Api.V1Alpha1;

/// <summary>Phases shown in status.phase and `kubectl get psb`.</summary>
public static class Phases
{
    public const string Pending = "Pending";
    public const string Creating = "Creating";
    public const string Running = "Running";
    public const string Recreating = "Recreating";
    public const string Expired = "Expired";
    public const string Stopped = "Stopped";
    public const string Failed = "Failed";

    /// <summary>The sandbox is paused or stopped at the provider and kept (spec.lifecycle Pause); a wake resumes it.</summary>
    public const string Paused = "Paused";

    /// <summary>Expired or Paused: nothing serves, and the next sign of activity (heartbeat, gateway traffic) wakes it.</summary>
    public static bool WakesOnActivity(string? phase) => phase is Expired or Paused;
}

/// <summary>Condition types and CamelCase reasons (kubebuilder conditions.go).</summary>
public static class PreviewSandboxConditions
{
    public const string Ready = "Ready";
    public const string Progressing = "Progressing";
    public const string Degraded = "Degraded";

    /// <summary>kstatus "abnormal-true" condition: present (True) only while work is in progress, so Flux/kstatus wait for it.</summary>
    public const string Reconciling = "Reconciling";

    /// <summary>kstatus "abnormal-true" condition: present (True) only when the operator gave up (phase Failed).</summary>
    public const string Stalled = "Stalled";

    /// <summary>The provider's API as a whole is usable (circuit closed, credentials present and accepted).</summary>
    public const string ProviderAvailable = "ProviderAvailable";

    /// <summary>The running sandbox holds the files the source says (status.filesHash/filesRevision); absent while not Ready.</summary>
    public const string FilesInSync = "FilesInSync";

    /// <summary>Order of the conditions in status: Ready first (kstatus tools and humans read it first), then the rest.</summary>
    public static readonly IReadOnlyList<string> Order = [Ready, Progressing, Degraded, FilesInSync, ProviderAvailable, Reconciling, Stalled];

    public static class Reasons
    {
        public const string Pending = "Pending";
        public const string Provisioning = "Provisioning";
        public const string Recreating = "Recreating";
        public const string SandboxReady = "SandboxReady";
        public const string IdleExpired = "IdleExpired";
        public const string TtlExpired = "TTLExpired";
        public const string Suspended = "Suspended";

        /// <summary>Ready=False while the sandbox is paused at the provider (spec.lifecycle Pause).</summary>
        public const string Paused = "Paused";

        /// <summary>Ready=False while the paused sandbox sits in the provider's archive (status.archivedAt); a wake restores it.</summary>
        public const string Archived = "Archived";

        /// <summary>Event reason of the heads-up before an idle or TTL cut.</summary>
        public const string ExpiryWarning = "ExpiryWarning";
        public const string ProviderError = "ProviderError";

        /// <summary>The provider cannot confine spec.command (no working sandbox such as bubblewrap), so it refuses to run it.</summary>
        public const string IsolationUnavailable = "IsolationUnavailable";
        public const string SourceError = "SourceError";
        public const string PolicyDenied = "PolicyDenied";
        public const string SandboxLost = "SandboxLost";
        public const string RecreateExhausted = "RecreateExhausted";
        public const string RecreateDisabled = "RecreateDisabled";
        public const string BackingOff = "BackingOff";
        public const string Deleting = "Deleting";
        public const string AsExpected = "AsExpected";

        // FilesInSync reasons (SourceError too, when the source cannot be read).
        public const string InSync = "InSync";
        public const string SyncPending = "SyncPending";
        public const string SyncFailed = "SyncFailed";

        /// <summary>Ready=False while creation waits for an unavailable provider (no attempt is spent).</summary>
        public const string ProviderUnavailable = "ProviderUnavailable";

        // ProviderAvailable reasons (reported through IProviderHealth).
        public const string Available = "Available";
        public const string CircuitOpen = "CircuitOpen";
        public const string CredentialsMissing = "CredentialsMissing";
        public const string CredentialsRejected = "CredentialsRejected";
        public const string ProviderNotConfigured = "ProviderNotConfigured";
    }
}

/// <summary>Why a sandbox was recreated, as status.lastRecreation, the session history and the recreation metrics record it.</summary>
public static class RecreationReasons
{
    public const string Expired = "expired";
    public const string IdleWake = "idle_wake";
    public const string Error = "error";
    public const string Manual = "manual";
}

/// <summary>How a sandbox came to run, as history rows and the <c>kind</c> metric label say.</summary>
public static class StartKinds
{
    /// <summary>A new sandbox for a preview that had none (first start).</summary>
    public const string Create = "create";

    /// <summary>A warm sandbox claimed from a PreviewSandboxPool (files pushed, dev server restarted if needed).</summary>
    public const string Claim = "claim";

    /// <summary>A paused sandbox resumed; only files changed since the pause were pushed.</summary>
    public const string Resume = "resume";

    /// <summary>A new sandbox replacing a lost, expired or unusable one; every file was transferred.</summary>
    public const string Recreate = "recreate";
}

/// <summary>Provider names accepted in spec.provider.</summary>
public static class ProviderNames
{
    public const string Local = "local";
    public const string Daytona = "daytona";
    public const string E2B = "e2b";
    public static readonly IReadOnlyList<string> All = [Local, Daytona, E2B];
}
