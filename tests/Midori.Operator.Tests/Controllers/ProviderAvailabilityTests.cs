using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Options;
using Midori.Operator.Providers;
using Midori.Operator.Testing;
using Midori.Operator.Testing.Builders;
using Reasons = Midori.Operator.Api.V1Alpha1.PreviewSandboxConditions.Reasons;

namespace Midori.Operator.Tests.Controllers;

/// <summary>The ProviderAvailable condition and how the reconciler waits out an unavailable provider.</summary>
public sealed class ProviderAvailabilityTests
{
    private readonly ReconcilerHarness _h = new(new OperatorOptions { HealthCheckInterval = TimeSpan.FromSeconds(30) });

    [Fact]
    public async Task HealthyProvider_ConditionTrueAfterTheOthers_ReadyStaysFirst()
    {
        _h.Client.Create(new PreviewSandboxBuilder().Build());

        await _h.ReconcileAsync();

        var conditions = _h.Get().Status!.Conditions!;
        Assert.Equal(PreviewSandboxConditions.Ready, conditions[0].Type);
        Assert.Equal(PreviewSandboxConditions.ProviderAvailable, conditions[^1].Type);
        Assert.Equal(("True", Reasons.Available, 1L), (conditions[^1].Status, conditions[^1].Reason, conditions[^1].ObservedGeneration));
    }

    [Fact]
    public async Task UnavailableProvider_CreationWaitsWithoutSpendingAttempts_ThenProceedsWhenItRecovers()
    {
        _h.Health.Report(_h.Provider.Name, available: false, Reasons.CircuitOpen, "local API failing (HTTP 503); calls paused for 30s");
        _h.Client.Create(new PreviewSandboxBuilder().Build());

        var waiting = await _h.ReconcileAsync();

        var status = _h.Get().Status!;
        Assert.Equal(0, _h.Provider.CreateCalls);
        Assert.Equal(Phases.Pending, status.Phase);
        Assert.Null(status.FailedAttempts);
        Assert.Equal(("False", Reasons.ProviderUnavailable), (Condition(status, PreviewSandboxConditions.Ready).Status, Condition(status, PreviewSandboxConditions.Ready).Reason));
        Assert.Contains("calls paused", Condition(status, PreviewSandboxConditions.Ready).Message);
        var available = Condition(status, PreviewSandboxConditions.ProviderAvailable);
        Assert.Equal(("False", Reasons.CircuitOpen), (available.Status, available.Reason));
        Assert.Equal(SandboxProvisioner.ProviderRecheckInterval, waiting.RequeueAfter);

        _h.Time.Advance(TimeSpan.FromSeconds(10));
        _h.Health.Report(_h.Provider.Name, available: true, Reasons.Available, "local API answering again");
        await _h.ReconcileAsync();

        status = _h.Get().Status!;
        Assert.Equal((Phases.Running, 1), (status.Phase, _h.Provider.CreateCalls));
        Assert.Equal("True", Condition(status, PreviewSandboxConditions.ProviderAvailable).Status);
    }

    [Fact]
    public async Task UnavailableProvider_AfterTheRecheckInterval_OneAttemptGoesThrough_AndItsFailureIsNotCounted()
    {
        _h.Health.Report(_h.Provider.Name, available: false, Reasons.CredentialsMissing, "No API key is configured");
        _h.Client.Create(new PreviewSandboxBuilder().Build());
        await _h.ReconcileAsync();
        _h.Time.Advance(SandboxProvisioner.ProviderRecheckInterval);
        _h.Provider.FailNextCreate(new SandboxProviderException(_h.Provider.Name, "No API key is configured", isTransient: false));

        var result = await _h.ReconcileAsync();

        var status = _h.Get().Status!;
        Assert.Equal(1, _h.Provider.CreateCalls);
        Assert.Null(status.FailedAttempts); // an outage must not walk the resource towards Failed
        Assert.Equal(Reasons.ProviderUnavailable, Condition(status, PreviewSandboxConditions.Ready).Reason);
        Assert.Equal(Reasons.CredentialsMissing, Condition(status, PreviewSandboxConditions.ProviderAvailable).Reason);
        Assert.Equal(SandboxProvisioner.ProviderRecheckInterval, result.RequeueAfter);
    }

    [Fact]
    public async Task UnknownProvider_ConditionSaysNotConfigured()
    {
        _h.Client.Create(new PreviewSandboxBuilder().Build().WithProvider(ProviderNames.E2B));

        await _h.ReconcileAsync();

        var available = Condition(_h.Get().Status!, PreviewSandboxConditions.ProviderAvailable);
        Assert.Equal(("False", Reasons.ProviderNotConfigured), (available.Status, available.Reason));
    }

    private static k8s.Models.V1Condition Condition(PreviewSandboxStatus status, string type) => status.Conditions!.Single(c => c.Type == type);
}

internal static class ProviderAvailabilityTestExtensions
{
    public static V1Alpha1PreviewSandbox WithProvider(this V1Alpha1PreviewSandbox resource, string provider)
    {
        resource.Spec.Provider = provider;
        return resource;
    }
}
