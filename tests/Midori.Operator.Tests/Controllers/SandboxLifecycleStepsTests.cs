using System.Text;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Options;
using Midori.Operator.Providers;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Builders;

namespace Midori.Operator.Tests.Controllers;

/// <summary>
/// spec.lifecycle through the real reconciler (fakes at every seam, FakeTimeProvider): pause at the idle cut, resume on
/// a wake pushing only what differs, fall back to a recreation when the paused sandbox is gone, delete after the
/// paused retention.
/// </summary>
public sealed class SandboxLifecycleStepsTests
{
    private readonly ReconcilerHarness _h = new(new OperatorOptions { HealthCheckInterval = TimeSpan.FromSeconds(30) });

    private async Task<string> RunThenPauseAsync(int retentionSeconds = 3600)
    {
        var resource = new PreviewSandboxBuilder().WithIdleTimeout(300).WithFile("a.txt", "A").WithFile("b.txt", "B").Build();
        resource.Spec.Lifecycle = new PreviewSandboxLifecycle { OnIdle = LifecycleActions.Pause, PausedRetentionSeconds = retentionSeconds };
        _h.Client.Create(resource);
        await _h.ReconcileAsync();
        var id = _h.Get().Status!.SandboxId!;
        _h.Time.Advance(TimeSpan.FromSeconds(300));
        await _h.ReconcileAsync();
        return id;
    }

    [Fact]
    public async Task IdleCut_WithOnIdlePause_PausesAndKeepsTheSandbox()
    {
        // act
        var id = await RunThenPauseAsync();

        // assert
        var status = _h.Get().Status!;
        Assert.Equal(Phases.Paused, status.Phase);
        Assert.Equal(id, status.SandboxId);
        Assert.True(_h.Provider.Find(id)!.Paused);
        Assert.Equal(_h.Time.GetUtcNow().UtcDateTime, status.PausedAt);
        Assert.Equal(status.FilesRevision, status.PausedFilesRevision);
        Assert.Null(status.SandboxUrl);
        var ready = status.Conditions!.Single(c => c.Type == PreviewSandboxConditions.Ready);
        Assert.Equal(("False", PreviewSandboxConditions.Reasons.Paused), (ready.Status, ready.Reason));
        Assert.Contains(PreviewSandboxConditions.Reasons.Paused, _h.Events.Reasons);
        Assert.Equal(1, _h.Provider.CreateCalls);

        // a pass while paused changes nothing and creates nothing
        _h.Time.Advance(TimeSpan.FromMinutes(10));
        await _h.ReconcileAsync();
        Assert.Equal((Phases.Paused, 1), (_h.Get().Status!.Phase, _h.Provider.CreateCalls));
    }

    [Fact]
    public async Task Wake_ResumesTheSameSandbox_PushingOnlyWhatDiffers()
    {
        // arrange: paused, and one file drifted in the sandbox meanwhile
        var id = await RunThenPauseAsync();
        _h.Provider.Find(id)!.Files["b.txt"] = "stale"u8.ToArray();
        var uploaded = new List<string>();
        _h.Provider.BeforeUpload = (_, files) =>
        {
            uploaded.AddRange(files.Select(f => f.Path));
            return Task.CompletedTask;
        };
        _h.Time.Advance(TimeSpan.FromMinutes(10));

        // act
        _h.Heartbeat(_h.Time.GetUtcNow());
        await _h.ReconcileAsync();

        // assert: same sandbox, running, only b.txt pushed, no recreation counted
        var status = _h.Get().Status!;
        Assert.True(Phases.Running == status.Phase, k8s.KubernetesJson.Serialize(status));
        Assert.Equal(id, status.SandboxId);
        Assert.Equal(["b.txt"], uploaded);
        Assert.Equal("B", Encoding.UTF8.GetString(_h.Provider.Find(id)!.Files["b.txt"]));
        Assert.Equal((1, 1), (_h.Provider.CreateCalls, _h.Provider.ResumeCalls));
        Assert.Null(status.Recreations);
        Assert.Null(status.PausedAt);
        Assert.Equal("True", status.Conditions!.Single(c => c.Type == PreviewSandboxConditions.FilesInSync).Status);
        Assert.Contains(EventReasons.Resumed, _h.Events.Reasons);
        Assert.Equal(_h.Time.GetUtcNow().AddSeconds(300).UtcDateTime, status.IdleDeadline);
    }

    [Fact]
    public async Task Wake_WhenThePausedSandboxIsGone_RecreatesWithEveryFile()
    {
        // arrange
        var id = await RunThenPauseAsync();
        _h.Provider.Vanish(id);
        _h.Time.Advance(TimeSpan.FromMinutes(10));

        // act
        _h.Heartbeat(_h.Time.GetUtcNow());
        await _h.ReconcileAsync();

        // assert
        var status = _h.Get().Status!;
        Assert.True(Phases.Running == status.Phase, k8s.KubernetesJson.Serialize(status));
        Assert.NotEqual(id, status.SandboxId);
        Assert.Equal((1, RecreationReasons.IdleWake, id), (status.Recreations, status.LastRecreation!.Reason, status.LastRecreation.OldSandboxId));
        var sandbox = _h.Provider.Find(status.SandboxId!)!;
        Assert.Equal(("A", "B"), (Encoding.UTF8.GetString(sandbox.Files["a.txt"]), Encoding.UTF8.GetString(sandbox.Files["b.txt"])));
    }

    [Fact]
    public async Task PausedRetention_Elapsed_DeletesTheSandbox_AndAWakeRecreates()
    {
        // arrange
        var id = await RunThenPauseAsync(retentionSeconds: 600);

        // act: the retention ends
        _h.Time.Advance(TimeSpan.FromSeconds(600));
        await _h.ReconcileAsync();

        // assert
        Assert.Equal(Phases.Expired, _h.Get().Status!.Phase);
        Assert.Null(_h.Provider.Find(id));
        Assert.Null(_h.Get().Status!.PausedAt);
        _h.Heartbeat(_h.Time.GetUtcNow());
        await _h.ReconcileAsync();
        Assert.Equal(Phases.Running, _h.Get().Status!.Phase);
        Assert.Equal(2, _h.Provider.CreateCalls);
    }

    [Fact]
    public async Task PausedRetention_Elapsed_WithAnArchivingProvider_Archives_AndAWakeRestoresTheSameSandbox()
    {
        // arrange: a provider with an archive tier (Daytona)
        _h.Provider.Capabilities |= SandboxCapabilities.Archive;
        var id = await RunThenPauseAsync(retentionSeconds: 600);

        // act 1: the paused retention ends
        _h.Time.Advance(TimeSpan.FromSeconds(600));
        var archivedPass = await _h.ReconcileAsync();

        // assert 1: archived, still Paused, the same sandbox, the next pass at the end of the archive period
        var status = _h.Get().Status!;
        Assert.Equal((Phases.Paused, id), (status.Phase, status.SandboxId));
        Assert.True(_h.Provider.Find(id)!.Archived);
        Assert.Equal(_h.Time.GetUtcNow().UtcDateTime, status.ArchivedAt);
        var ready = status.Conditions!.Single(c => c.Type == PreviewSandboxConditions.Ready);
        Assert.Equal(("False", PreviewSandboxConditions.Reasons.Archived), (ready.Status, ready.Reason));
        Assert.Contains(EventReasons.Archived, _h.Events.Reasons);
        Assert.Equal(TimeSpan.FromSeconds(600), archivedPass.RequeueAfter);

        // a pass while archived changes nothing
        _h.Time.Advance(TimeSpan.FromSeconds(60));
        var before = k8s.KubernetesJson.Serialize(_h.Get().Status);
        await _h.ReconcileAsync();
        Assert.Equal(before, k8s.KubernetesJson.Serialize(_h.Get().Status));

        // act 2: a wake
        _h.Heartbeat(_h.Time.GetUtcNow());
        await _h.ReconcileAsync();

        // assert 2: the archived sandbox is started again, nothing recreated
        status = _h.Get().Status!;
        Assert.Equal((Phases.Running, id), (status.Phase, status.SandboxId));
        Assert.False(_h.Provider.Find(id)!.Archived);
        Assert.Null(status.ArchivedAt);
        Assert.Null(status.Recreations);
        Assert.Equal((1, 1), (_h.Provider.CreateCalls, _h.Provider.ResumeCalls));
    }

    [Fact]
    public async Task Archived_AfterTheArchivePeriod_IsDeleted_AndAWakeWhenGoneRecreates()
    {
        // arrange: archived at the end of the retention
        _h.Provider.Capabilities |= SandboxCapabilities.Archive;
        var id = await RunThenPauseAsync(retentionSeconds: 600);
        _h.Time.Advance(TimeSpan.FromSeconds(600));
        await _h.ReconcileAsync();

        // act: the archive period (as long again) ends
        _h.Time.Advance(TimeSpan.FromSeconds(600));
        await _h.ReconcileAsync();

        // assert: deleted, Expired; a wake creates a new sandbox
        var status = _h.Get().Status!;
        Assert.Equal(Phases.Expired, status.Phase);
        Assert.Null(_h.Provider.Find(id));
        Assert.Null(status.ArchivedAt);
        _h.Heartbeat(_h.Time.GetUtcNow());
        await _h.ReconcileAsync();
        Assert.Equal(Phases.Running, _h.Get().Status!.Phase);
        Assert.Equal(2, _h.Provider.CreateCalls);
    }

    [Fact]
    public async Task Archive_WhenTheSandboxIsGone_EndsAsExpired()
    {
        // arrange
        _h.Provider.Capabilities |= SandboxCapabilities.Archive;
        var id = await RunThenPauseAsync(retentionSeconds: 600);
        _h.Provider.Vanish(id);

        // act
        _h.Time.Advance(TimeSpan.FromSeconds(600));
        await _h.ReconcileAsync();

        // assert
        var status = _h.Get().Status!;
        Assert.Equal(Phases.Expired, status.Phase);
        Assert.Null(status.ArchivedAt);
        Assert.DoesNotContain(EventReasons.Archived, _h.Events.Reasons);
    }

    [Fact]
    public async Task IdleCut_WhenTheProviderCannotPause_DeletesAsBefore()
    {
        // arrange
        _h.Provider.Capabilities = SandboxCapabilities.FileManifest;

        // act
        var id = await RunThenPauseAsync();

        // assert
        Assert.Equal(Phases.Expired, _h.Get().Status!.Phase);
        Assert.Null(_h.Provider.Find(id));
    }
}
