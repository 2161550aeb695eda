namespace Midori.Operator.Diagnostics;

/// <summary>
/// Central registry of log event ids (Npgsql's <c>NpgsqlEventId</c> style). Each area owns a range so ids stay
/// unique across the assembly: 1000–1999 runtime (queue, informer, workers, leadership, events, API client).
/// Other areas take their own thousand (e.g. 2000–2999 reconciler, 3000–3999 providers, 4000–4999 HTTP API).
/// Providers split theirs by hundreds: 3100 local (LocalSandboxLog), 3200 shared/orphan sweep (ProviderLog), 3300 Daytona (DaytonaLog), 3500 E2B (E2BLog).
/// </summary>
internal static class LogEventIds
{
    // 1000–1099: informer (list + watch)
    public const int InformerStarted = 1000;
    public const int InformerStopped = 1001;
    public const int InformerListed = 1002;
    public const int InformerWatchStarted = 1003;
    public const int InformerWatchClosed = 1004;
    public const int InformerResourceVersionExpired = 1005;
    public const int InformerWatchFailed = 1006;
    public const int InformerEventSkipped = 1007;
    public const int InformerEventEnqueued = 1008;
    public const int InformerEventFailed = 1009;
    public const int InformerShortWatch = 1010;
    public const int CrdMissing = 1011;
    public const int CrdStillMissing = 1012;
    public const int CrdInstalled = 1013;

    // 1100–1199: workers
    public const int WorkersStarted = 1100;
    public const int WorkersStopped = 1101;
    public const int ReconcileSucceeded = 1102;
    public const int ReconcileFailed = 1103;
    public const int ReconcileThrew = 1104;
    public const int ReconcileConflict = 1105;
    public const int ReconcileCancelled = 1106;

    // 1200–1299: leadership and runtime host
    public const int LeadershipDisabled = 1200;
    public const int LeadershipAcquired = 1201;
    public const int LeadershipLost = 1202;
    public const int LeaderObserved = 1203;
    public const int LeaderElectionFailed = 1204;
    public const int LeaseReleased = 1205;
    public const int LeaseReleaseFailed = 1206;
    public const int LeadershipFenceLapsed = 1207;
    public const int LeadershipWriteRefused = 1208;
    public const int LeadershipStepDown = 1209;
    public const int RuntimeTermStarted = 1210;
    public const int RuntimeTermStopped = 1211;
    public const int RuntimeDrainTimedOut = 1212;
    public const int RuntimeComponentFailed = 1213;
    public const int SandboxDeathEnqueued = 1220;

    // 1300–1399: event recorder
    public const int EventDropped = 1300;
    public const int EventSendFailed = 1301;

    // 1400–1499: API client
    public const int WatchStreamError = 1400;

    // 1500–1549: PreviewSandboxPolicy cache and enforcement
    public const int PoliciesListed = 1500;
    public const int PolicyCrdMissing = 1501;
    public const int PolicyWatchFailed = 1502;
    public const int PolicyDenied = 1503;
    public const int PolicyUnavailable = 1504;

    // 2900–2949: retention of finished previews (Diagnostics/RetentionLog).
    public const int RetentionFirst = 2900;

    // 4500–4599: HTTP API events and seed routes (Http/HttpApiLog): 4500 events, 4520 progress relay, 4540 seed routes, 4560 auto-build.
    public const int HttpApiEventsFirst = 4500;

    // 4700–4799: preview gateway (Gateway/GatewayLog).
    public const int GatewayFirst = 4700;

    // 4000–4999: HTTP API (Http/HttpApiLog): 4000 cache, 4100 previews and files, 4200 heartbeats, 4300 requests/auth.
    public const int HttpApiFirst = 4000;
}
