using System.Text;
using k8s.Models;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Options;
using Midori.Operator.Providers;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Builders;

namespace Midori.Operator.Tests.Controllers;

/// <summary>Lifecycle of one PreviewSandbox through the real reconciler, fakes at every seam, FakeTimeProvider for time.</summary>
public sealed class PreviewSandboxReconcilerTests
{
    private readonly ReconcilerHarness _h = new(new OperatorOptions { HealthCheckInterval = TimeSpan.FromSeconds(30) });

    [Fact]
    public async Task Reconcile_NewResource_CreatesSandboxAndPublishesRunning()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().WithFile("app.js", "console.log(1)").Build());

        // act
        var result = await _h.ReconcileAsync();

        // assert
        var psb = _h.Get();
        var status = psb.Status!;
        Assert.Contains(GroupVersion.FinalizerName, psb.Metadata.Finalizers!);
        Assert.Equal(Phases.Running, status.Phase);
        Assert.Equal(ProviderNames.Local, status.Provider);
        var sandbox = Assert.Single(_h.Provider.Sandboxes);
        Assert.Equal(sandbox.Id, status.SandboxId);
        Assert.Equal(psb.Metadata.Uid, sandbox.OwnerUid);
        Assert.Equal("<h1>hello</h1>", Encoding.UTF8.GetString(sandbox.Files["index.html"]));
        Assert.Equal("console.log(1)", Encoding.UTF8.GetString(sandbox.Files["app.js"]));
        Assert.StartsWith("https://3000-", status.SandboxUrl);
        Assert.Equal(ReconcilerHarness.T0.UtcDateTime, status.StartedAt);
        Assert.Equal(ReconcilerHarness.T0.AddSeconds(1800).UtcDateTime, status.ExpiresAt);
        Assert.Equal(ReconcilerHarness.T0.AddSeconds(300).UtcDateTime, status.IdleDeadline);
        Assert.Equal(1, status.ObservedGeneration);
        Assert.StartsWith("sha256:", status.FilesHash);
        var ready = status.Conditions!.First();
        Assert.Equal((PreviewSandboxConditions.Ready, "True", 1L), (ready.Type, ready.Status, ready.ObservedGeneration));
        Assert.All(status.Conditions!, c => Assert.Equal(1, c.ObservedGeneration));
        Assert.Equal(new SecretKeyReference { Name = "demo-preview-token", Key = "token" }.Name, status.TokenSecretRef!.Name);
        var secret = _h.Client.GetSecret("default", "demo-preview-token")!;
        Assert.Equal(sandbox.Token, Encoding.UTF8.GetString(secret.Data["token"]));
        Assert.Equal(psb.Metadata.Uid, secret.Metadata.OwnerReferences!.Single().Uid);
        Assert.DoesNotContain(sandbox.Token!, k8s.KubernetesJson.Serialize(status));
        Assert.Contains(EventReasonsCreated, _h.Events.Reasons);
        Assert.Equal(TimeSpan.FromSeconds(30), result.RequeueAfter);
    }

    [Fact]
    public async Task Reconcile_ProviderWithoutToken_WritesNoSecret_UntilASandboxHasOne()
    {
        // arrange
        _h.Provider.IssuesTokens = false;
        _h.Client.Create(new PreviewSandboxBuilder().Build());

        // act
        await _h.ReconcileAsync();

        // assert: a public preview costs no Secret and names none
        var status = _h.Get().Status!;
        Assert.Equal(Phases.Running, status.Phase);
        Assert.Null(status.TokenSecretRef);
        Assert.Null(_h.Client.GetSecret("default", "demo-preview-token"));

        // act: a later sandbox with a token gets its Secret; one without a token after it empties that Secret
        _h.Provider.IssuesTokens = true;
        _h.Provider.Vanish(status.SandboxId!);
        await _h.ReconcileAsync();
        var withToken = _h.Get().Status!;
        var secret = _h.Client.GetSecret("default", "demo-preview-token")!;
        Assert.Equal(_h.Provider.Sandboxes.Single().Token, Encoding.UTF8.GetString(secret.Data["token"]));
        Assert.Equal("demo-preview-token", withToken.TokenSecretRef!.Name);
        _h.Provider.IssuesTokens = false;
        _h.Provider.Vanish(withToken.SandboxId!);
        var wait = await _h.ReconcileAsync(); // a second recreation in a row waits for its cooldown
        _h.Time.Advance(wait.RequeueAfter!.Value);
        await _h.ReconcileAsync();

        // assert
        var without = _h.Get().Status!;
        Assert.Equal(Phases.Running, without.Phase);
        Assert.NotEqual(withToken.SandboxId, without.SandboxId);
        Assert.Empty(_h.Client.GetSecret("default", "demo-preview-token")!.Data["token"]);
    }

    [Fact]
    public async Task Reconcile_FirstSight_PublishesPendingBeforeProvisioning()
    {
        // arrange: a CRD from before the status default (Helm and kubectl apply may leave an older one in place)
        _h.Client.ServesStatusDefault = false;
        _h.Client.Create(new PreviewSandboxBuilder().Build());

        // act
        await _h.ReconcileAsync();

        // assert: kubectl get shows a phase from the first moment
        Assert.Equal(Phases.Pending, _h.Client.WrittenPhases[0]);
        Assert.Equal(Phases.Running, _h.Client.WrittenPhases[^1]);
    }

    [Fact]
    public async Task Reconcile_FirstSight_UnderTheSchemaDefault_WritesStatusOnlyOnceReady()
    {
        // arrange: the API server already serves phase Pending (the CRD's status default)
        _h.Client.Create(new PreviewSandboxBuilder().Build());

        // act
        await _h.ReconcileAsync();

        // assert: one status write, and it names the provider the first-sight write used to
        Assert.Equal([Phases.Running], _h.Client.WrittenPhases);
        Assert.Equal(ProviderNames.Local, _h.Get().Status!.Provider);
    }

    [Fact]
    public async Task Reconcile_Twice_IsIdempotentAndWritesStatusOnlyWhenChanged()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().Build());
        await _h.ReconcileAsync();
        var writes = _h.Client.StatusWrites;

        // act
        await _h.ReconcileAsync();
        await _h.ReconcileAsync();

        // assert
        Assert.Equal(1, _h.Provider.CreateCalls);
        Assert.Equal(writes, _h.Client.StatusWrites);
    }

    [Fact]
    public async Task Reconcile_WhenIdlePastTimeout_DeletesRemoteSandboxAndSetsExpired()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().WithIdleTimeout(300).Build());
        await _h.ReconcileAsync();
        _h.Time.Advance(TimeSpan.FromSeconds(299));
        await _h.ReconcileAsync();
        Assert.Equal(Phases.Running, _h.Get().Status!.Phase);

        // act
        _h.Time.Advance(TimeSpan.FromSeconds(1));
        var result = await _h.ReconcileAsync();

        // assert
        var status = _h.Get().Status!;
        Assert.Equal(Phases.Expired, status.Phase);
        Assert.Empty(_h.Provider.Sandboxes);
        var ready = status.Conditions!.Single(c => c.Type == PreviewSandboxConditions.Ready);
        Assert.Equal(("False", PreviewSandboxConditions.Reasons.IdleExpired), (ready.Status, ready.Reason));
        Assert.Null(status.SandboxUrl);
        Assert.Equal(TimeSpan.Zero, _h.Observer.ExpiryLateness.Single());
        Assert.Equal(_h.Options.ResyncInterval, result.RequeueAfter);
    }

    [Fact]
    public async Task Reconcile_RequeueAfter_LandsExactlyOnTheIdleDeadline()
    {
        // arrange: a health interval longer than the idle timeout, so the deadline decides the timer
        var h = new ReconcilerHarness(new OperatorOptions { HealthCheckInterval = TimeSpan.FromMinutes(10) });
        h.Client.Create(new PreviewSandboxBuilder().WithIdleTimeout(120).Build());

        // act
        var result = await h.ReconcileAsync();

        // assert
        Assert.Equal(TimeSpan.FromSeconds(120), result.RequeueAfter);
    }

    [Fact]
    public async Task Reconcile_WithHeartbeats_StaysRunningPastTheIdleTimeout()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().WithIdleTimeout(300).Build());
        await _h.ReconcileAsync();

        // act: a heartbeat every 2 minutes (the seed's interval) for 12 minutes
        for (var i = 0; i < 6; i++)
        {
            _h.Time.Advance(TimeSpan.FromMinutes(2));
            _h.Heartbeat(_h.Time.GetUtcNow());
            await _h.ReconcileAsync();
        }

        // assert
        var status = _h.Get().Status!;
        Assert.Equal(Phases.Running, status.Phase);
        Assert.Equal(1, _h.Provider.CreateCalls);
        Assert.Equal(_h.Time.GetUtcNow().AddSeconds(300).UtcDateTime, status.IdleDeadline);
        Assert.True(_h.Provider.ExtendCalls >= 6);
    }

    [Fact]
    public async Task Reconcile_WhenActivityAfterIdleExpiry_WakesWithNewSandboxAndSameFiles()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().WithFile("a.txt", "A").Build());
        await _h.ReconcileAsync();
        var first = _h.Get().Status!.SandboxId;
        _h.Time.Advance(TimeSpan.FromSeconds(300));
        await _h.ReconcileAsync();
        _h.Time.Advance(TimeSpan.FromMinutes(10));

        // act
        _h.Heartbeat(_h.Time.GetUtcNow());
        await _h.ReconcileAsync();

        // assert
        var status = _h.Get().Status!;
        Assert.True(Phases.Running == status.Phase, string.Join("\n", _h.Observer.Log) + "\n" + k8s.KubernetesJson.Serialize(status));
        Assert.NotEqual(first, status.SandboxId);
        Assert.Equal(1, status.Recreations);
        Assert.Equal(RecreationReasons.IdleWake, status.LastRecreation!.Reason);
        Assert.Equal(first, status.LastRecreation.OldSandboxId);
        Assert.Equal(status.SandboxId, status.LastRecreation.NewSandboxId);
        Assert.Equal("A", Encoding.UTF8.GetString(_h.Provider.Find(status.SandboxId!)!.Files["a.txt"]));
        Assert.Equal(_h.Time.GetUtcNow().AddSeconds(1800).UtcDateTime, status.ExpiresAt);
    }

    [Fact]
    public async Task Reconcile_WhenTtlReachedDespiteHeartbeats_ExpiresThenNextHeartbeatRecreatesAsExpired()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().WithTtl(600).WithIdleTimeout(300).Build());
        await _h.ReconcileAsync();
        for (var i = 0; i < 5; i++)
        {
            _h.Time.Advance(TimeSpan.FromMinutes(2));
            _h.Heartbeat(_h.Time.GetUtcNow());
            await _h.ReconcileAsync();
        }

        // act: 10 minutes in, TTL reached
        await _h.ReconcileAsync();
        var expired = _h.Get().Status!;
        _h.Time.Advance(TimeSpan.FromSeconds(30));
        _h.Heartbeat(_h.Time.GetUtcNow());
        await _h.ReconcileAsync();

        // assert
        Assert.Equal(Phases.Expired, expired.Phase);
        Assert.Equal(PreviewSandboxConditions.Reasons.TtlExpired, expired.Conditions!.First().Reason);
        var status = _h.Get().Status!;
        Assert.Equal(Phases.Running, status.Phase);
        Assert.Equal(RecreationReasons.Expired, status.LastRecreation!.Reason);
    }

    [Fact]
    public async Task Reconcile_WhenProviderLostTheSandbox_RecreatesWithReasonError()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().Build());
        await _h.ReconcileAsync();
        var old = _h.Get().Status!.SandboxId!;
        _h.Provider.Vanish(old);

        // act
        await _h.ReconcileAsync();

        // assert
        var status = _h.Get().Status!;
        Assert.Equal(Phases.Running, status.Phase);
        Assert.NotEqual(old, status.SandboxId);
        Assert.Equal((RecreationReasons.Error, old), (status.LastRecreation!.Reason, status.LastRecreation.OldSandboxId));
        Assert.Equal(1, status.Recreations);
        Assert.Equal(1, status.FailedAttempts);
        Assert.Contains("Recreated", _h.Events.Reasons);
    }

    [Fact]
    public async Task Reconcile_AfterStableRunning_ForgetsEarlierFailures()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().WithRecreate(cooldownSeconds: 30).Build());
        await _h.ReconcileAsync();
        _h.Provider.Vanish(_h.Get().Status!.SandboxId!);
        await _h.ReconcileAsync();
        Assert.Equal(1, _h.Get().Status!.FailedAttempts);

        // act
        _h.Time.Advance(TimeSpan.FromSeconds(30));
        await _h.ReconcileAsync();

        // assert
        Assert.Null(_h.Get().Status!.FailedAttempts);
    }

    [Fact]
    public async Task Reconcile_WhenProbeFailsThreeTimesInARow_Recreates()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().Build());
        await _h.ReconcileAsync();
        var old = _h.Get().Status!.SandboxId;
        _h.Probe.Healthy = false;

        // act
        await _h.ReconcileAsync();
        await _h.ReconcileAsync();
        var beforeThird = _h.Get().Status!;
        await _h.ReconcileAsync();

        // assert
        Assert.Equal((old, 2), (beforeThird.SandboxId, beforeThird.ProbeFailures));
        Assert.Equal("True", beforeThird.Conditions!.Single(c => c.Type == PreviewSandboxConditions.Degraded).Status);
        var status = _h.Get().Status!;
        Assert.NotEqual(old, status.SandboxId);
        Assert.Equal(RecreationReasons.Error, status.LastRecreation!.Reason);
        Assert.Null(status.ProbeFailures);
    }

    [Fact]
    public async Task Reconcile_WhenCreationKeepsFailing_BacksOffExponentiallyThenFails()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().WithRecreate(maxAttempts: 3, cooldownSeconds: 10).Build());
        for (var i = 0; i < 10; i++)
        {
            _h.Provider.FailNextCreate();
        }

        // act: reconcile whenever the result asks, the way the runtime queue would
        var delays = new List<TimeSpan>();
        for (var i = 0; i < 8 && _h.Get().Status?.Phase != Phases.Failed; i++)
        {
            var result = await _h.ReconcileAsync();
            delays.Add(result.RequeueAfter!.Value);
            _h.Time.Advance(result.RequeueAfter!.Value);
        }

        // assert: 1 try + 3 retries, then Failed; never a tight loop
        var status = _h.Get().Status!;
        Assert.Equal(Phases.Failed, status.Phase);
        Assert.Equal(4, _h.Provider.CreateCalls);
        Assert.All(delays, d => Assert.True(d >= TimeSpan.FromSeconds(1), $"requeue of {d} is a tight loop"));
        Assert.Equal([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(20)], delays.Take(3));
        var ready = status.Conditions!.First();
        Assert.Equal(PreviewSandboxConditions.Reasons.RecreateExhausted, ready.Reason);
        Assert.Contains("create failed", ready.Message);

        // and Failed is sticky: no more attempts on later reconciles
        _h.Time.Advance(TimeSpan.FromHours(1));
        await _h.ReconcileAsync();
        Assert.Equal(4, _h.Provider.CreateCalls);
    }

    [Fact]
    public async Task Reconcile_WhenFailedAndSpecChanges_TriesAgain()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().WithRecreate(maxAttempts: 1, cooldownSeconds: 0).Build());
        _h.Provider.FailNextCreate();
        _h.Provider.FailNextCreate();
        await _h.ReconcileAsync();
        await _h.ReconcileAsync();
        await _h.ReconcileAsync();
        Assert.Equal(Phases.Failed, _h.Get().Status!.Phase);

        // act
        _h.Client.UpdateSpec("default", "demo", s => s.Command = "npm run dev");
        await _h.ReconcileAsync();

        // assert
        Assert.Equal(Phases.Running, _h.Get().Status!.Phase);
    }

    [Fact]
    public async Task Reconcile_WhenRecreateDisabledAndSandboxLost_Fails()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().WithRecreate(enabled: false).Build());
        await _h.ReconcileAsync();
        _h.Provider.Vanish(_h.Get().Status!.SandboxId!);

        // act
        await _h.ReconcileAsync();

        // assert
        var status = _h.Get().Status!;
        Assert.Equal(Phases.Failed, status.Phase);
        Assert.Equal(PreviewSandboxConditions.Reasons.SandboxLost, status.Conditions!.First().Reason);
        Assert.Equal(1, _h.Provider.CreateCalls);
    }

    [Fact]
    public async Task Reconcile_SuspendThenResume_RemovesAndRecreatesTheSandbox()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().Build());
        await _h.ReconcileAsync();

        // act
        _h.Client.UpdateSpec("default", "demo", s => s.Suspend = true);
        await _h.ReconcileAsync();
        var suspended = _h.Get().Status!;
        _h.Client.UpdateSpec("default", "demo", s => s.Suspend = false);
        await _h.ReconcileAsync();

        // assert
        Assert.Equal(Phases.Stopped, suspended.Phase);
        Assert.Equal(PreviewSandboxConditions.Reasons.Suspended, suspended.Conditions!.First().Reason);
        Assert.Equal(2, suspended.ObservedGeneration);
        var status = _h.Get().Status!;
        Assert.Equal(Phases.Running, status.Phase);
        Assert.Single(_h.Provider.Sandboxes);
        Assert.Equal(2, _h.Provider.CreateCalls);
        Assert.Null(status.Recreations);
    }

    [Fact]
    public async Task Reconcile_WhenCreatedSuspended_NeverCreatesASandbox()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().Suspended().Build());

        // act
        await _h.ReconcileAsync();

        // assert
        Assert.Equal(Phases.Stopped, _h.Get().Status!.Phase);
        Assert.Equal(0, _h.Provider.CreateCalls);
    }

    [Fact]
    public async Task Reconcile_WhenRecreateAnnotationChanges_ReplacesTheSandboxOnce()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().Build());
        await _h.ReconcileAsync();
        var old = _h.Get().Status!.SandboxId;

        // act
        await _h.Client.PatchAnnotationsAsync("default", "demo", new Dictionary<string, string?> { [GroupVersion.RecreateAnnotation] = "1" }, CancellationToken.None);
        await _h.ReconcileAsync();
        await _h.ReconcileAsync();

        // assert
        var status = _h.Get().Status!;
        Assert.NotEqual(old, status.SandboxId);
        Assert.Equal((RecreationReasons.Manual, 1), (status.LastRecreation!.Reason, status.Recreations));
        Assert.Equal("1", status.ObservedRecreateRequest);
        Assert.Equal(2, _h.Provider.CreateCalls);
        Assert.Null(_h.Provider.Find(old!));
    }

    [Fact]
    public async Task Reconcile_WhenDeleted_RemovesRemoteSandboxThenReleasesFinalizer()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().Build());
        await _h.ReconcileAsync();

        // act
        _h.Client.Delete("default", "demo");
        var result = await _h.ReconcileAsync();

        // assert
        Assert.Null(result.RequeueAfter);
        Assert.Empty(_h.Provider.Sandboxes);
        Assert.Null(_h.Client.Peek("default", "demo"));
        Assert.Null(_h.Client.GetSecret("default", "demo-preview-token"));
        Assert.Contains("Deleted", _h.Events.Reasons);
    }

    [Fact]
    public async Task Reconcile_WhenDeletedAndSandboxAlreadyGone_StillReleases()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().Build());
        await _h.ReconcileAsync();
        _h.Provider.Vanish(_h.Get().Status!.SandboxId!);

        // act
        _h.Client.Delete("default", "demo");
        await _h.ReconcileAsync();

        // assert
        Assert.Null(_h.Client.Peek("default", "demo"));
    }

    [Fact]
    public async Task Reconcile_WhenDeletedDuringProviderOutage_KeepsFinalizerAndFails()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().Build());
        await _h.ReconcileAsync();
        _h.Provider.OutageException = new SandboxProviderException("local", "503 from provider", isTransient: true);

        // act
        _h.Client.Delete("default", "demo");
        var result = await _h.ReconcileAsync();

        // assert
        Assert.False(result.IsSuccess);
        Assert.NotNull(_h.Client.Peek("default", "demo"));
        Assert.Single(_h.Provider.Sandboxes);
    }

    [Fact]
    public async Task Reconcile_AfterCrashMidCreate_AdoptsTheSandboxLabeledWithItsUid()
    {
        // arrange: a previous operator created the sandbox, then died before writing status
        var psb = _h.Client.Create(new PreviewSandboxBuilder().Build());
        await _h.Provider.CreateAsync(new SandboxCreateRequest(psb.Metadata.Uid, "default", "demo", "project-1", null, 3000,
            TimeSpan.FromMinutes(30), TimeSpan.FromMinutes(5), new Dictionary<string, string>()), CancellationToken.None);

        // act
        await _h.ReconcileAsync();

        // assert
        Assert.Equal(1, _h.Provider.CreateCalls);
        Assert.Equal(_h.Provider.Sandboxes.Single().Id, _h.Get().Status!.SandboxId);
    }

    [Fact]
    public async Task Reconcile_WhenInlineFilesChange_PushesThemToTheRunningSandbox()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().Build());
        await _h.ReconcileAsync();
        var hash = _h.Get().Status!.FilesHash;

        // act
        _h.Client.UpdateSpec("default", "demo", s => s.Source.Inline![0].Content = "<h1>changed</h1>");
        await _h.ReconcileAsync();

        // assert
        var status = _h.Get().Status!;
        Assert.NotEqual(hash, status.FilesHash);
        Assert.Equal("<h1>changed</h1>", Encoding.UTF8.GetString(_h.Provider.Find(status.SandboxId!)!.Files["index.html"]));
        Assert.Equal(1, _h.Provider.CreateCalls);
        Assert.Equal("True", status.Conditions!.Single(c => c.Type == PreviewSandboxConditions.FilesInSync).Status);
    }

    [Fact]
    public async Task Reconcile_WhenPushingChangedFilesFails_ReportsOutOfSyncAndConvergesOnRetry()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().Build());
        await _h.ReconcileAsync();
        var hash = _h.Get().Status!.FilesHash;
        _h.Client.UpdateSpec("default", "demo", s => s.Source.Inline![0].Content = "<h1>v2</h1>");
        _h.Provider.FailNextUpload();

        // act
        var failed = await _h.ReconcileAsync();
        var behind = _h.Get().Status!;
        _h.Time.Advance(failed.RequeueAfter!.Value);
        await _h.ReconcileAsync();

        // assert
        Assert.Equal(hash, behind.FilesHash);
        Assert.Equal("False", behind.Conditions!.Single(c => c.Type == PreviewSandboxConditions.FilesInSync).Status);
        Assert.Equal("True", behind.Conditions!.Single(c => c.Type == PreviewSandboxConditions.Degraded).Status);
        Assert.True(failed.RequeueAfter <= TimeSpan.FromSeconds(5));
        var status = _h.Get().Status!;
        Assert.NotEqual(hash, status.FilesHash);
        Assert.Equal("True", status.Conditions!.Single(c => c.Type == PreviewSandboxConditions.FilesInSync).Status);
        Assert.Equal("<h1>v2</h1>", System.Text.Encoding.UTF8.GetString(_h.Provider.Find(status.SandboxId!)!.Files["index.html"]));
    }

    [Fact]
    public async Task Reconcile_WhenConfigMapMissing_ReportsSourceErrorThenCreatesOnceItExists()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().WithConfigMap("files", ("index", "index.html"), ("js", "src/app.js")).Build());

        // act
        var first = await _h.ReconcileAsync();
        var pending = _h.Get().Status!;
        _h.Client.PutConfigMap(new V1ConfigMap
        {
            Metadata = new V1ObjectMeta { Name = "files", NamespaceProperty = "default" },
            Data = new Dictionary<string, string> { ["index"] = "<p>cm</p>", ["js"] = "let x" },
        });
        _h.Time.Advance(first.RequeueAfter!.Value);
        await _h.ReconcileAsync();

        // assert
        Assert.Equal((Phases.Pending, PreviewSandboxConditions.Reasons.SourceError), (pending.Phase, pending.Conditions!.First().Reason));
        Assert.Contains("ConfigMap 'files' was not found", pending.Conditions!.First().Message);
        var sandbox = _h.Provider.Sandboxes.Single();
        Assert.Equal("let x", Encoding.UTF8.GetString(sandbox.Files["src/app.js"]));
        Assert.Equal(Phases.Running, _h.Get().Status!.Phase);
    }

    [Fact]
    public async Task Reconcile_WhenHeartbeatIsInTheFutureOrGarbage_NeitherExtendsNorBreaks()
    {
        // arrange
        _h.Client.Create(new PreviewSandboxBuilder().WithAnnotation(GroupVersion.HeartbeatAnnotation, "2099-01-01T00:00:00Z").Build());
        await _h.ReconcileAsync();
        var deadline = _h.Get().Status!.IdleDeadline;

        // act
        await _h.Client.PatchAnnotationsAsync("default", "demo", new Dictionary<string, string?> { [GroupVersion.HeartbeatAnnotation] = "not-a-time" }, CancellationToken.None);
        _h.Time.Advance(TimeSpan.FromSeconds(300));
        await _h.ReconcileAsync();

        // assert
        Assert.Equal(ReconcilerHarness.T0.AddSeconds(300).UtcDateTime, deadline);
        Assert.Equal(Phases.Expired, _h.Get().Status!.Phase);
    }

    [Fact]
    public async Task Reconcile_WhenObjectIsGone_IsDone()
    {
        // act
        var result = await _h.ReconcileAsync("missing");

        // assert
        Assert.True(result.IsSuccess);
        Assert.Null(result.RequeueAfter);
    }

    private const string EventReasonsCreated = "Created";
}
